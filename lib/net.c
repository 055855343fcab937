/* net: placeholder until its module lands */
typedef int net_placeholder_t;

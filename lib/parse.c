/* parse: placeholder until its module lands */
typedef int parse_placeholder_t;

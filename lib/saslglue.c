/* saslglue: placeholder until its module lands */
typedef int saslglue_placeholder_t;

/* saslglue: placeholder */
#ifndef LIB_SASLGLUE_H
#define LIB_SASLGLUE_H
#endif

/* tls: placeholder until its module lands */
typedef int tls_placeholder_t;

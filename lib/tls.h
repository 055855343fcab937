/* tls: placeholder */
#ifndef LIB_TLS_H
#define LIB_TLS_H
#endif

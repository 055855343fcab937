/* prot: placeholder */
#ifndef LIB_PROT_H
#define LIB_PROT_H
#endif

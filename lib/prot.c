/* prot: placeholder until its module lands */
typedef int prot_placeholder_t;

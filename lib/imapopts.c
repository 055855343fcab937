/* imapopts: placeholder until its module lands */
typedef int imapopts_placeholder_t;

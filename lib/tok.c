/* tok: placeholder until its module lands */
typedef int tok_placeholder_t;

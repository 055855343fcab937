/* config: placeholder until its module lands */
typedef int config_placeholder_t;

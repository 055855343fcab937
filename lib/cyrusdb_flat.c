/* cyrusdb_flat: placeholder until its module lands */
typedef int cyrusdb_flat_placeholder_t;

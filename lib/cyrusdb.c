/* cyrusdb: placeholder until its module lands */
typedef int cyrusdb_placeholder_t;

/* cyrusdb_berkeley: placeholder until its module lands */
typedef int cyrusdb_berkeley_placeholder_t;

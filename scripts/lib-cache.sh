# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Where Herald keeps what it downloads outside the repository, and which
# versions. Sourced by scripts/bootstrap and tests/harness/common.sh so both
# agree on one place: the Kafka jars (resolved by Maven from
# scripts/kafka-deps.pom), Maven's own local repository, and the Python venv
# with fastavro (the independent Avro implementation the tests compare with).
#
# HERALD_CACHE overrides the root (default ~/.cache/herald).

HD_KAFKA_VERSION=3.9.1
HD_FASTAVRO_VERSION=1.13.1

HD_CACHE=${HERALD_CACHE:-${HOME:?HOME is not set; set HERALD_CACHE}/.cache/herald}
HD_M2_REPO=$HD_CACHE/m2
HD_KAFKA_HOME=$HD_CACHE/kafka-$HD_KAFKA_VERSION
HD_KAFKA_LIBS=$HD_KAFKA_HOME/libs
# Written only after a complete resolution; holds the pom's checksum, so an
# interrupted download or an edited pom resolves again.
HD_KAFKA_MARKER=$HD_KAFKA_HOME/.complete
HD_VENV=$HD_CACHE/venv

# The pom that lists the jars; its checksum is what the marker records.
hd_kafka_pom() {
    printf '%s\n' "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka-deps.pom"
}

hd_kafka_pom_sum() {
    sha256sum "$(hd_kafka_pom)" | cut -d' ' -f1
}

# True when the jars were resolved completely from the current pom.
hd_kafka_libs_ready() {
    [ -f "$HD_KAFKA_MARKER" ] && [ -d "$HD_KAFKA_LIBS" ] &&
        [ "$(cat "$HD_KAFKA_MARKER")" = "$(hd_kafka_pom_sum)" ] &&
        compgen -G "$HD_KAFKA_LIBS/kafka_2.13-$HD_KAFKA_VERSION.jar" >/dev/null
}

#!/bin/sh
# Entrypoint of gameday/kafka:tansu: the Tansu broker configured through the official apache/kafka image's
# variables (the PLAINTEXT entries of KAFKA_LISTENERS and KAFKA_ADVERTISED_LISTENERS), so the provider
# starts either image alike. Tansu keeps everything in memory: a restart is an empty broker.
set -eu
plaintext() { echo "$1" | tr ',' '\n' | sed -n 's#^PLAINTEXT://##p' | head -n 1; }
listen="$(plaintext "${KAFKA_LISTENERS:-PLAINTEXT://0.0.0.0:9092}")"
advertised="$(plaintext "${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}")"
exec /usr/local/bin/tansu broker --listener-url "tcp://$listen" --advertised-listener-url "tcp://$advertised" "$@"

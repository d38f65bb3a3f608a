#!/usr/bin/env bash
# A second, secured stack instance for the security tests (tests/security.rs):
#   Kafka     SASL_SSL on 127.0.0.1:29092 (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), controller 29093,
#             and SSL with a client certificate required (mutual TLS) on 127.0.0.1:29094
#   Cassandra PasswordAuthenticator + client TLS required, on 127.0.0.1:29042 (storage 27000,
#             JMX 27199)
# in a runtime dir of its own (SECURE_STACK_DIR, default .stack-secure/; an EMBER_STACK_DIR in
# the environment is deliberately ignored, it names some other instance), so it never touches
# the main stack (9092/9042) or anyone else's. Ports: SECURE_KAFKA_PORT etc. Same commands as stack.sh:
#
#   secure-stack.sh up|down|status|logs|restart|kill9 [kafka|cassandra...]
#   secure-stack.sh env        print the settings the tests use (ports, files, users)
#
# TLS material is generated at first start with openssl into $EMBER_STACK_DIR/tls (a CA, a
# server certificate for 127.0.0.1/localhost in PEM and PKCS#12, and a client certificate for
# mutual TLS in PEM); nothing private is committed.
# The users and passwords below are TEST-ONLY and deliberately fixed, so the tests can assert
# that exactly these strings never appear in Ember's output.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

export EMBER_STACK_DIR=${SECURE_STACK_DIR:-$REPO/.stack-secure}
export KAFKA_PORT=${SECURE_KAFKA_PORT:-29092}
export KAFKA_CONTROLLER_PORT=${SECURE_KAFKA_CONTROLLER_PORT:-29093}
export CASSANDRA_PORT=${SECURE_CASSANDRA_PORT:-29042}
export CASSANDRA_STORAGE_PORT=${SECURE_CASSANDRA_STORAGE_PORT:-27000}
export CASSANDRA_JMX_PORT=${SECURE_CASSANDRA_JMX_PORT:-27199}
KAFKA_MTLS_PORT=${SECURE_KAFKA_MTLS_PORT:-29094}

# --- test-only credentials ------------------------------------------------------------------
KAFKA_ADMIN_USER=admin
KAFKA_ADMIN_PASSWORD=admin-Broker-pw-6d1e
KAFKA_PLAIN_USER=ember_plain
KAFKA_PLAIN_PASSWORD=plain-Secret-7f3a9c
KAFKA_SCRAM_USER=ember_scram
KAFKA_SCRAM_PASSWORD=scram-Secret-91c2e4
CASSANDRA_USER=ember_writer
CASSANDRA_PASSWORD=cass-Secret-4b8d2a
STORE_PASSWORD=store-pw-test-only

TLS=$EMBER_STACK_DIR/tls

print_env() {
  cat <<EOF
SECURE_STACK_DIR=$EMBER_STACK_DIR
SECURE_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
SECURE_CASSANDRA=127.0.0.1:$CASSANDRA_PORT
SECURE_CA_FILE=$TLS/ca.pem
SECURE_KAFKA_MTLS_BROKERS=127.0.0.1:$KAFKA_MTLS_PORT
SECURE_CLIENT_CERT=$TLS/client.pem
SECURE_CLIENT_KEY=$TLS/client.key
SECURE_KAFKA_PLAIN_USER=$KAFKA_PLAIN_USER
SECURE_KAFKA_PLAIN_PASSWORD=$KAFKA_PLAIN_PASSWORD
SECURE_KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER
SECURE_KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD
SECURE_CASSANDRA_USER=$CASSANDRA_USER
SECURE_CASSANDRA_PASSWORD=$CASSANDRA_PASSWORD
EOF
}

# A CA and a server certificate valid for 127.0.0.1 and localhost, made once per stack dir.
make_tls() {
  [[ -f $TLS/.complete ]] && return 0
  command -v openssl >/dev/null || { echo "secure-stack: openssl is needed" >&2; exit 1; }
  rm -rf "$TLS"
  mkdir -p "$TLS"
  chmod 700 "$TLS"
  (
    cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Ember test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem 2>/dev/null
    # PKCS#12 for the JVMs (Java 17 reads OpenSSL 3's default PBES2 encryption).
    openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name server \
      -passout "pass:$STORE_PASSWORD" -out server.p12
    # A truststore holding the CA, for the broker's own inter-broker client.
    rm -f truststore.p12
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.p12 \
      -storetype PKCS12 -storepass "$STORE_PASSWORD" >/dev/null 2>&1
    rm -f server.csr server.ext ca.srl
    touch .complete
  )
}

# A client certificate signed by the same CA, for the mutual-TLS listener (made on its own, so
# a stack dir from before it existed gets one too).
make_client_cert() {
  [[ -f $TLS/client.pem ]] && return 0
  (
    cd "$TLS"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=ember-client" \
      -keyout client.key -out client.csr 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out client.pem.tmp 2>/dev/null
    chmod 600 client.key
    rm -f client.csr client.ext ca.srl
    mv client.pem.tmp client.pem
  )
}

secure_env() {
  make_tls
  make_client_cert
  printf '%s\n' "$KAFKA_ADMIN_PASSWORD" >"$TLS/kafka-admin.pw"
  printf '%s\n' "$CASSANDRA_PASSWORD" >"$TLS/cassandra.pw"
  chmod 600 "$TLS"/*.pw

  # SASL_SSL for clients and (the broker talking to itself) inter-broker; the KRaft controller
  # listener stays PLAINTEXT on 127.0.0.1. PLAIN users live in the JAAS line; SCRAM users are
  # written into the metadata log when the storage is formatted (KAFKA_FORMAT_ARGS).
  export KAFKA_EXTRA_PROPERTIES="
listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SSL://127.0.0.1:$KAFKA_MTLS_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,SSL://127.0.0.1:$KAFKA_MTLS_PORT
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$KAFKA_ADMIN_USER\" password=\"$KAFKA_ADMIN_PASSWORD\" user_$KAFKA_ADMIN_USER=\"$KAFKA_ADMIN_PASSWORD\" user_$KAFKA_PLAIN_USER=\"$KAFKA_PLAIN_PASSWORD\";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS/server.p12
ssl.keystore.password=$STORE_PASSWORD
ssl.key.password=$STORE_PASSWORD
ssl.truststore.type=PKCS12
ssl.truststore.location=$TLS/truststore.p12
ssl.truststore.password=$STORE_PASSWORD
ssl.client.auth=none
ssl.endpoint.identification.algorithm=https"
  export KAFKA_FORMAT_ARGS="--add-scram SCRAM-SHA-256=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD] --add-scram SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]"
  export KAFKA_PING_ARGS="--tls
--cafile
$TLS/ca.pem
--sasl-plain
$KAFKA_ADMIN_USER
--password-file
$TLS/kafka-admin.pw"

  export CASSANDRA_AUTHENTICATOR=PasswordAuthenticator
  export CASSANDRA_AUTHORIZER=CassandraAuthorizer
  export CASSANDRA_EXTRA_YAML="client_encryption_options:
  enabled: true
  optional: false
  keystore: $TLS/server.p12
  keystore_password: $STORE_PASSWORD
  store_type: PKCS12
  require_client_auth: false"
  export CQL_PING_ARGS="--tls
--cafile
$TLS/ca.pem"
}

# The pipeline's Cassandra role: created once by the default superuser.
create_role() {
  local cql="CREATE ROLE IF NOT EXISTS $CASSANDRA_USER WITH PASSWORD = '$CASSANDRA_PASSWORD' AND LOGIN = true AND SUPERUSER = true"
  local i
  for i in $(seq 30); do
    if python3 "$HERE/cql_ping.py" -q --port "$CASSANDRA_PORT" --tls --cafile "$TLS/ca.pem" \
      --user cassandra --password cassandra --query "$cql"; then
      return 0
    fi
    sleep 1
  done
  echo "secure-stack: could not create role $CASSANDRA_USER" >&2
  return 1
}

cmd=${1:-}
case $cmd in
  env) print_env ;;
  up | start | restart)
    secure_env
    bash "$HERE/stack.sh" "$@"
    if [[ " ${*:2} " == *" cassandra "* || $# -lt 2 ]]; then create_role; fi
    ;;
  *)
    secure_env
    exec bash "$HERE/stack.sh" "$@"
    ;;
esac

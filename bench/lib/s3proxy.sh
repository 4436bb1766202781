# Sourced by the S3 benchmarks once $work exists: starts S3Proxy (filesystem backend, its data
# and log in $work/s3) on a free loopback port as identity bench / bench-secret, exports those
# credentials (AWS_SHARED_CREDENTIALS_FILE) and waits up to a minute for it to answer. Sets
# $endpoint and $s3pid; the script's exit trap kills $s3pid. Needs $root, curl, python3, mvn.
jar="$root/s3/target/s3proxy/s3proxy.jar"
# the s3 module's tests copy it there; made so when missing, without installing anything in ~/.m2
[[ -f "$jar" ]] || (cd "$root" && mvn -q -B -o -pl s3 -am generate-test-resources) \
  || { echo "no $jar and the s3 module did not build it" >&2; exit 1; }
mkdir -p "$work/s3/data/bench"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
cat > "$work/s3/conf" <<CONF
s3proxy.endpoint=$endpoint
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=bench
s3proxy.credential=bench-secret
jclouds.provider=filesystem
jclouds.filesystem.basedir=$work/s3/data
CONF
printf '[default]\naws_access_key_id = bench\naws_secret_access_key = bench-secret\n' > "$work/s3/credentials"
export AWS_SHARED_CREDENTIALS_FILE="$work/s3/credentials"
java -Xmx512m -jar "$jar" --properties "$work/s3/conf" > "$work/s3/log" 2>&1 &
s3pid=$!
for ((i = 0; i < 300; i++)); do
  curl -s -o /dev/null "$endpoint/" && break
  sleep 0.2
done
curl -s -o /dev/null "$endpoint/" || { echo "S3Proxy did not start: see $work/s3/log" >&2; exit 1; }

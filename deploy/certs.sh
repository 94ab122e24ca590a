#!/usr/bin/env bash
# Keys and certificates of a cardiofed federation.
#
#   deploy/certs.sh federation DIR [--host NAME_OR_IP]... [--force]
#       (coordinator) the federation CA (DIR/ca.crt, DIR/ca.key) and the SuperLink's TLS certificate
#       (DIR/superlink.crt, DIR/superlink.key) valid for localhost, 127.0.0.1, ::1 and every --host.
#       Give DIR/ca.crt to every hospital; ca.key never leaves the coordinator.
#   deploy/certs.sh hospital DIR HOSPITAL_ID [--force]
#       (hospital) the SuperNode's authentication key pair (DIR/HOSPITAL_ID.key, DIR/HOSPITAL_ID.pub),
#       ECDSA P-384 in OpenSSH format as Flower expects. Send only the .pub to the coordinator, who
#       registers it; the private key never leaves the hospital.
#
# Idempotent: a file that already exists is kept (and said so); --force replaces it.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
say() { printf 'certs: %s\n' "$*" >&2; }

force=0
hosts=()
positional=()
while (($#)); do
    case "$1" in
        --force) force=1 ;;
        --host) hosts+=("${2:?--host needs a name or address}"); shift ;;
        -h|--help) usage ;;
        -*) say "unknown option $1"; usage ;;
        *) positional+=("$1") ;;
    esac
    shift
done
((${#positional[@]} >= 2)) || usage
role=${positional[0]}
dir=${positional[1]}
mkdir -p "$dir"
chmod 700 "$dir"

# True when FILE must be (re)written; an existing file is kept unless --force.
must_write() {
    if [[ -e "$1" && $force -eq 0 ]]; then
        say "$1 exists, kept (--force replaces it)"
        return 1
    fi
    return 0
}

federation() {
    local ca_key="$dir/ca.key" ca_crt="$dir/ca.crt" key="$dir/superlink.key" crt="$dir/superlink.crt"
    local new_ca=0
    if must_write "$ca_crt"; then
        openssl ecparam -genkey -name secp384r1 -noout -out "$ca_key" 2>/dev/null
        openssl req -x509 -new -key "$ca_key" -sha384 -days 3650 -subj "/CN=cardiofed federation CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$ca_crt"
        chmod 600 "$ca_key"
        new_ca=1
        say "wrote the federation CA $ca_crt"
    fi
    # A new CA invalidates the old server certificate, so it is reissued with it.
    if ((new_ca)) || must_write "$crt"; then
        local sans="DNS:localhost,IP:127.0.0.1,IP:::1" host
        for host in "${hosts[@]}"; do
            if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then sans+=",IP:$host"; else sans+=",DNS:$host"; fi
        done
        local csr extensions
        csr=$(mktemp) extensions=$(mktemp)
        trap 'rm -f "$csr" "$extensions"' RETURN
        openssl ecparam -genkey -name secp384r1 -noout -out "$key" 2>/dev/null
        openssl req -new -key "$key" -sha384 -subj "/CN=cardiofed superlink" -out "$csr"
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' \
            "$sans" >"$extensions"
        openssl x509 -req -in "$csr" -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial -sha384 -days 825 \
            -extfile "$extensions" -out "$crt" 2>/dev/null
        chmod 600 "$key"
        say "wrote the SuperLink certificate $crt for $sans"
    fi
}

hospital() {
    local id=${positional[2]:?hospital needs HOSPITAL_ID}
    [[ $id =~ ^[A-Za-z0-9._-]+$ ]] || { say "hospital id '$id' may hold only letters, digits, . _ -"; exit 2; }
    local key="$dir/$id.key"
    if must_write "$key"; then
        rm -f "$key" "$key.pub" "$dir/$id.pub"
        ssh-keygen -q -t ecdsa -b 384 -N "" -C "cardiofed hospital $id" -f "$key"
        mv "$key.pub" "$dir/$id.pub"
        say "wrote the SuperNode key pair of hospital $id: $key (keep) and $dir/$id.pub (send)"
    fi
}

case "$role" in
    federation) federation ;;
    hospital) hospital ;;
    *) say "unknown role '$role' (federation | hospital)"; usage ;;
esac

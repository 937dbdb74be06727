#!/bin/sh
# The one-shot `deploy` job of docker-compose.yml, run in the certreg image:
#   1. wait until the QBFT validators produce blocks;
#   2. `certreg contract deploy` with the federation's governors (once: the record in
#      $CERTREG_DATA_DIR/deployment.json is what the API and the indexer read);
#   3. governance bootstrap: governor 1 proposes registering this institute as an
#      issuer, governor 2 approves (2-of-N), the issuer admin adds the operator.
# Safe to re-run: each finished step is recognised and skipped.
# Keys come from compose secrets (encrypted keystores + one password file); no key or
# password is ever printed.
set -eu
secrets=/run/secrets
password_file="$secrets/keystore_password"
data_dir="${CERTREG_DATA_DIR:?}"

address_of() {
  python -c 'import json, sys; print("0x" + json.load(open(sys.argv[1]))["address"].removeprefix("0x"))' "$1"
}

python - <<'PY'
import os, sys, time
from anchor.chain import connect
from anchor.errors import ChainError
deadline = time.monotonic() + 600
while True:
    try:
        if connect(os.environ["CERTREG_RPC_URL"]).eth.block_number >= 1:
            break
    except ChainError:
        pass
    if time.monotonic() > deadline:
        sys.exit("deploy: the chain produced no block within 10 minutes")
    time.sleep(2)
PY

if [ -f "$data_dir/deployment.json" ]; then
  echo "deploy: registry already deployed"
else
  set --
  for governor in $(echo "${GOVERNOR_ADDRESSES:?}" | tr ',' ' '); do
    set -- "$@" --governor "$governor"
  done
  certreg contract deploy "$@" --threshold "${GOVERNANCE_THRESHOLD:?}" \
    --keystore "$secrets/deployer_keystore" --password-file "$password_file"
fi

if [ -f "$data_dir/bootstrap.done" ]; then
  echo "deploy: governance already bootstrapped"
  exit 0
fi
if certreg issuer show "${ISSUER_CODE:?}" >/dev/null 2>&1; then
  echo "deploy: issuer $ISSUER_CODE already registered"
else
  proposal_id=$(certreg --json govern propose register-issuer --issuer "$ISSUER_CODE" \
      --country "${ISSUER_COUNTRY:?}" --kind "${ISSUER_KIND:-nmi}" \
      --admin "$(address_of "$secrets/issuer_admin_keystore")" \
      --metadata-cid "${ISSUER_METADATA_CID:-}" \
      --keystore "$secrets/governor1_keystore" --password-file "$password_file" |
    python -c 'import json, sys; print(json.load(sys.stdin)["proposal_id"])')
  certreg govern approve "$proposal_id" \
    --keystore "$secrets/governor2_keystore" --password-file "$password_file"
fi
certreg issuer add-operator "$ISSUER_CODE" "$(address_of "$secrets/operator_keystore")" \
  --keystore "$secrets/issuer_admin_keystore" --password-file "$password_file"
touch "$data_dir/bootstrap.done"
certreg contract status

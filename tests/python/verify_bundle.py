"""An independent check of a slaprobe evidence bundle, written from docs/evidence.md alone with libraries
nobody on the project wrote: rfc8785 (Trail of Bits) for the canonical JSON, hashlib for SHA-256, cryptography
for Ed25519. The end-to-end tests run it beside slaprobe-verify, so the specification, not the Rust code, is
what both agree on.

Usage: python3 verify_bundle.py BUNDLE_DIR   (exit 0 and "verified N results", or exit 1 naming a problem)
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fail(message):
    print(f"problem: {message}")
    sys.exit(1)


def sha256(data):
    return hashlib.sha256(data).digest()


def key_of(text):
    if not text.startswith("ed25519:"):
        fail(f"not an agent key: {text}")
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text[len("ed25519:"):]))


def verify_signature(keys, agent, key_text, statement, signature):
    if key_text not in keys.get(agent, set()):
        fail(f"{agent} signed with a key not in keys/{agent}.pub")
    try:
        key_of(key_text).verify(base64.b64decode(signature), rfc8785.dumps(statement))
    except InvalidSignature:
        fail(f"a signature of {agent} does not verify: {statement}")


def main(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name, expected in manifest["files"].items():
        if hashlib.sha256((bundle / name).read_bytes()).hexdigest() != expected:
            fail(f"{name} does not match the manifest")

    keys = {}
    for path in (bundle / "keys").glob("*.pub"):
        keys[path.stem] = {line.strip() for line in path.read_text().splitlines() if line.strip()}

    checkpoints = {}
    for line in (bundle / "checkpoints.jsonl").read_text().splitlines():
        c = json.loads(line)
        statement = {"statement": "checkpoint", "agent_id": c["agent_id"], "seq": c["seq"], "chain": c["chain"]}
        verify_signature(keys, c["agent_id"], c["public_key"], statement, c["signature"])
        checkpoints[(c["agent_id"], c["seq"])] = c["chain"]

    # Gaps the agent signed: each explains the seqs it names, and says where the chain continues.
    gaps = {}
    for line in (bundle / "gaps.jsonl").read_text().splitlines():
        g = json.loads(line)
        if not g.get("signature"):
            continue
        statement = {"statement": "gap", "agent_id": g["agent_id"], "first_seq": g["first_seq"],
                     "last_seq": g["last_seq"], "reason": g["reason"]}
        for field in ("chain_before", "chain_after"):
            if g.get(field) is not None:
                statement[field] = g[field]
        verify_signature(keys, g["agent_id"], g["public_key"], statement, g["signature"])
        gaps.setdefault(g["agent_id"], []).append(g)

    def across_gaps(agent, last_seq, chain, seq):
        """The chain value before `seq` when the seqs after `last_seq` are missing: signed gaps must cover each."""
        following = last_seq + 1
        while following < seq:
            gap = next((g for g in gaps.get(agent, [])
                        if g["first_seq"] <= following <= g["last_seq"] < seq), None)
            if gap is None:
                fail(f"{agent}: seq {seq} follows {last_seq} and no signed gap explains {following}..{seq - 1}")
            if gap["first_seq"] == following and gap.get("chain_before") not in (None, chain):
                fail(f"{agent}: the gap {gap['first_seq']}..{gap['last_seq']} follows another chain value")
            if gap.get("chain_after") is None:
                fail(f"{agent}: the gap {gap['first_seq']}..{gap['last_seq']} does not say where the chain continues")
            chain = gap["chain_after"]
            following = gap["last_seq"] + 1
        return chain

    previous = {}
    count = 0
    for line in (bundle / "results.jsonl").read_text().splitlines():
        value = json.loads(line)
        agent, seq = value["agent_id"], value["seq"]
        if "digest" in value:
            digest = bytes.fromhex(value["digest"])
        else:
            digest = sha256(rfc8785.dumps({k: v for k, v in value.items() if k != "chain"}))
        chain = value["chain"]
        if agent in previous:
            last_seq, last_chain = previous[agent]
            if seq <= last_seq:
                fail(f"{agent}: seq {seq} follows {last_seq}")
            start = bytes.fromhex(across_gaps(agent, last_seq, last_chain, seq))
        elif seq == 1:
            start = bytes(32)
        elif (agent, seq - 1) in checkpoints:
            start = bytes.fromhex(checkpoints[(agent, seq - 1)])
        elif any(g["last_seq"] == seq - 1 and g.get("chain_after") for g in gaps.get(agent, [])):
            start = bytes.fromhex(next(g["chain_after"] for g in gaps[agent] if g["last_seq"] == seq - 1))
        else:
            fail(f"{agent}: nothing vouches for the chain before seq {seq}")
        if sha256(start + digest).hex() != chain:
            fail(f"{agent}: result {seq} does not link")
        if checkpoints.get((agent, seq), chain) != chain:
            fail(f"{agent}: result {seq} is not what the checkpoint signs")
        previous[agent] = (seq, chain)
        count += 1

    for agent, (last_seq, _) in previous.items():
        if (agent, last_seq) not in checkpoints:
            fail(f"{agent}: its last result, seq {last_seq}, is not signed")
    signed_gaps = sum(len(listed) for listed in gaps.values())
    print(f"verified {count} results, {signed_gaps} signed gaps")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

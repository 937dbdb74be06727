// Reference implementation for tests: reads {"digests": ["0x..", ...], "multiproofs":
// [["0x..", ...], ...]} on stdin and prints the root, every proof and, for each requested
// set of digests, the multiproof from @openzeppelin/merkle-tree's StandardMerkleTree.
"use strict";
const path = require("path");
const { StandardMerkleTree } = require(
  path.resolve(__dirname, "../../node_modules/@openzeppelin/merkle-tree"));

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(input.digests.map((d) => [d]), ["bytes32"]);
const proofs = {};
const indexOf = {};
for (const [i, v] of tree.entries()) {
  proofs[v[0]] = tree.getProof(i);
  indexOf[v[0]] = i;
}
const multiproofs = (input.multiproofs || []).map((set) => {
  const m = tree.getMultiProof(set.map((d) => indexOf[d]));
  return { leaves: m.leaves.map((v) => v[0]), proof: m.proof, proofFlags: m.proofFlags };
});
process.stdout.write(JSON.stringify({ root: tree.root, proofs, multiproofs }));

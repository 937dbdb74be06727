// Reference implementation for tests: reads {"digests": ["0x..", ...]} on stdin and
// prints the root and every proof from @openzeppelin/merkle-tree's StandardMerkleTree.
"use strict";
const path = require("path");
const { StandardMerkleTree } = require(
  path.resolve(__dirname, "../../node_modules/@openzeppelin/merkle-tree"));

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(input.digests.map((d) => [d]), ["bytes32"]);
const proofs = {};
for (const [i, v] of tree.entries()) proofs[v[0]] = tree.getProof(i);
process.stdout.write(JSON.stringify({ root: tree.root, proofs }));

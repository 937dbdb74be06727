"""The fast verify path gives exactly the verdicts of the uncached one.

A corpus issued through the real pipeline on anvil (every example DCC of the shared
corpus, plus a four-level traceability chain over three issuers with an accreditation),
verified through the API by hash and by upload, both ways (`fresh=true` reads every
fact from the chain and the store; the default answers from cached chain facts and the
indexer's verdict inputs), after each of: issuance, revocation with cascade,
supersession, issuer suspension, accreditation changes, and a reorg that orphans a
revocation and an anchoring. Also: a forged, self-consistent database row gets
`unknown` from the default path while the batch cache is warm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from anchor.chain import GovernanceAction, IssuerStatus, RevocationReason
from anchor.cid import Cid
from anchor.merkle import MerkleBatch
from anchor.services.anvil import AnvilNode
from registry.audit import ProjectionAuditor
from registry.db.generation import ProjectionWatch, database_generation
from registry.db.models import ChainBatch, ChainDocument, VerdictInputs
from registry.db.verdicts import verdict_facts
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld, account
from tests.registry.api_support import api_client
from tests.registry.test_accreditation_chain import record, scope_document
from tests.registry.trust_fixtures import WSL, TrustChain

# Fields that say when the verdict was taken, not what it is.
_WHEN = ("as_of_block", "blocks_behind_head")


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """A private anvil: this test reverts it, which must not touch the session's chain."""
    node = AnvilNode.start(workdir=tmp_path_factory.mktemp("differential-anvil"))
    yield node
    node.stop()


@dataclasses.dataclass
class Corpus:
    chain: TrustChain
    client: TestClient  # the default: responses kept by projection generation
    uncached: TestClient  # a worker that never learns the generation: always the query
    documents: dict[str, bytes]  # sha256 -> exact anchored bytes
    examples: list[str]  # the shared corpus's examples among them

    def index(self) -> None:
        self.chain.issuer(PTB).index()

    def verdict(self, sha256: str, *, fresh: bool, upload: bool = False) -> dict:
        query = "?fresh=true" if fresh else ""
        if upload:
            response = self.client.post(f"/v1/verify{query}", content=self.documents[sha256],
                                        headers={"Content-Type": "application/xml"})
        else:
            response = self.client.get(f"/v1/verify/{sha256}{query}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["as_of_block"] is not None and body["blocks_behind_head"] is not None
        return {k: v for k, v in body.items() if k not in _WHEN}

    def assert_generation_seen(self, phase: str) -> None:
        """Right after the indexer's commit (Indexer.catch_up settles this process's
        watches; SQLite's asks the database per request), the worker knows the
        generation the database is at: nothing kept for an older one is served."""
        now = database_generation(self.chain.issuer(PTB).sessions.kw["bind"])
        assert now is not None, phase
        watch = self.client.app.state.projection_watch
        seen = watch.current()
        assert seen is not None and seen.generation == now.generation, (phase, seen, now)

    def assert_same(self, phase: str) -> Counter[str]:
        """Both paths over every certificate (and an unknown hash), the default one twice
        (computed, then kept for the generation); lookups and searches with and without
        the generation cache; the verdict counts."""
        self.index()
        self.assert_generation_seen(phase)
        sessions = self.chain.issuer(PTB).sessions
        verifier = self.client.app.state.fast_verifier
        unknown = hashlib.sha256(f"never issued {phase}".encode()).hexdigest()
        verdicts: Counter[str] = Counter()
        for sha256 in [*self.documents, unknown]:
            if sha256 in self.documents:
                # Otherwise the default path would take the slow one and prove nothing.
                assert verdict_facts(sessions.kw["bind"], sha256).complete, (phase, sha256)
            fast, fresh = (self.verdict(sha256, fresh=f) for f in (False, True))
            assert fast == fresh, (phase, sha256)
            if sha256 in self.documents:
                assert verifier.kept(sha256) is not None, (phase, "kept", sha256)
            assert self.verdict(sha256, fresh=False) == fresh, (phase, "kept", sha256)
            verdicts[fast["verdict"]] += 1
        for sha256 in list(self.documents)[::5]:
            fresh = self.verdict(sha256, fresh=True, upload=True)
            for _ in range(2):
                assert self.verdict(sha256, fresh=False, upload=True) == fresh, \
                    (phase, "upload", sha256)
            assert verifier.kept(None, document=self.documents[sha256]) is not None, \
                (phase, "upload kept", sha256)
        self.assert_reads_agree(phase)
        return verdicts

    def assert_reads_agree(self, phase: str) -> None:
        numbers = set()
        for sha256 in self.documents:
            expected = self.uncached.get(f"/v1/certificates/{sha256}")
            assert expected.status_code == 200, expected.text
            numbers.add(expected.json()["unique_identifier"])
            for _ in range(2):
                assert self.client.get(f"/v1/certificates/{sha256}").json() == \
                    expected.json(), (phase, "lookup", sha256)
        for number in sorted(n for n in numbers if n):
            path = f"/v1/search?number={number}&issuer=PTB"
            expected = self.uncached.get(path)
            assert expected.status_code == 200, expected.text
            for _ in range(2):
                assert self.client.get(path).json() == expected.json(), (phase, path)


def issue_examples(chain: TrustChain, shared_dcc: Path) -> dict[str, bytes]:
    """Every example DCC of the shared corpus, issued by PTB in one batch."""
    issuer = chain.issuer(PTB)
    report = issuer.run(sorted((shared_dcc / "examples").glob("*.xml")), batch_size=64)
    issued = [s for s in report.submissions if s.sha256]
    assert len(issued) >= 8, report
    return {s.sha256: issuer.store.get(Cid.parse(s.cid)) for s in issued}


@pytest.fixture
def corpus(world: RegistryWorld, settings: Settings, shared_dcc: Path,
           tmp_path: Path) -> Corpus:
    chain = TrustChain(world, settings, shared_dcc, tmp_path)
    record(chain, scope_document(), chain.today - dt.timedelta(days=30))
    documents = issue_examples(chain, shared_dcc)
    examples = list(documents)
    for prefix in ("A", "B"):
        for sha256 in chain.four_levels(prefix).values():
            documents[sha256] = chain.issuer(PTB).store.get(Cid.parse(_cid(chain, sha256)))
    # Rate limits off: the test is one client address making hundreds of requests.
    unlimited = settings.model_copy(update={"rate_limit_per_second": 0})
    uncached = api_client(unlimited)
    uncached.app.state.projection_watch = ProjectionWatch()  # never knows a generation
    client = api_client(unlimited)
    # The worker's watch exists before the first catch-up, as a running API's does.
    assert client.get(f"/v1/verify/{'0' * 64}").json()["verdict"] == "unknown"
    return Corpus(chain, client, uncached, documents, examples)


def _cid(chain: TrustChain, sha256: str) -> str:
    with chain.issuer(PTB).sessions() as session:
        return session.scalar(select(ChainDocument.cid).where(ChainDocument.sha256 == sha256))


def _hashes(corpus: Corpus, number: str) -> str:
    with corpus.chain.issuer(PTB).sessions() as session:
        return session.scalar(select(ChainDocument.sha256).where(
            ChainDocument.unique_identifier == number))


def govern(chain: TrustChain, action: GovernanceAction) -> None:
    """Pass an action with fresh governor clients (`record` used the same accounts, so
    the fixture's clients have stale nonces)."""
    first, second = (chain.world.deployer.as_account(account(i)) for i in (1, 2))
    proposal_id, _ = first.propose(action)
    second.approve(proposal_id)


def test_fast_and_fresh_verdicts_agree_through_every_kind_of_change(
        corpus: Corpus, anvil: AnvilNode) -> None:
    chain, today = corpus.chain, corpus.chain.today
    assert corpus.assert_same("issued")["valid"] == len(corpus.documents)

    # A measurement-affecting revocation of the NMI certificate: the cascade.
    chain.issuer(PTB).revoke(_hashes(corpus, "A-NMI"), RevocationReason.COMPROMISED,
                             effective_from=int(dt.datetime.combine(
                                 today, dt.time(), dt.UTC).timestamp()))
    after_cascade = corpus.assert_same("cascade")
    assert after_cascade["traceability-compromised"] >= 3 and after_cascade["revoked"] == 1

    # Supersession of a corpus DCC by another one.
    superseded, replacement = corpus.examples[0], corpus.examples[1]
    chain.issuer(PTB).revoke(superseded, RevocationReason.SUPERSEDED, replacement)
    assert corpus.assert_same("supersession")["revoked"] == 2

    # The reference laboratory's accreditation narrows to 320 degC (its top point is
    # 320.004 degC): what it calibrated today is outside the scope.
    record(chain, scope_document(maximum_celsius="320"), today - dt.timedelta(days=1))
    corpus.assert_same("accreditation narrowed")
    assert corpus.verdict(_hashes(corpus, "B-REF"), fresh=False)["accreditation_scope"][
        "status"] == "outside-scope"

    # The working-standard laboratory is suspended.
    govern(chain, GovernanceAction.set_issuer_status(WSL, IssuerStatus.SUSPENDED))
    corpus.assert_same("suspension")
    assert corpus.verdict(_hashes(corpus, "B-WORK"), fresh=False)["issuer"][
        "status_now"] == "suspended"

    # A reorg orphans a revocation and a new anchoring; the other branch is longer.
    fork = anvil.snapshot()
    lost = chain.issue(PTB, "LOST-NMI", today)
    corpus.documents[lost] = chain.issuer(PTB).store.get(Cid.parse(_cid(chain, lost)))
    chain.issuer(PTB).revoke(_hashes(corpus, "B-NMI"), RevocationReason.ERROR,
                             effective_from=int(dt.datetime.combine(
                                 today, dt.time(), dt.UTC).timestamp()))
    before_reorg = corpus.assert_same("before reorg")
    assert before_reorg["traceability-compromised"] >= 5
    anvil.revert(fork)
    anvil.mine(8)
    del corpus.documents[lost]
    after_reorg = corpus.assert_same("after reorg")
    assert after_reorg["traceability-compromised"] == after_cascade["traceability-compromised"]
    assert corpus.verdict(lost, fresh=False)["verdict"] == "unknown"
    # The accreditation recorded before the fork survives; after it, a withdrawal.
    govern(chain, GovernanceAction.set_accreditation(LAB, None, "", int(
        dt.datetime.combine(today, dt.time(), dt.UTC).timestamp())))
    corpus.assert_same("accreditation withdrawn")
    assert corpus.verdict(_hashes(corpus, "A-REF"), fresh=False)["accreditation_scope"][
        "status"] == "outside-scope"

    # `certreg reindex` rebuilds the verdict inputs from chain and IPFS alone.
    before = {sha256: corpus.verdict(sha256, fresh=False) for sha256 in corpus.documents}
    chain.issuer(PTB).indexer.rebuild()
    assert corpus.assert_same("rebuilt") == Counter(v["verdict"] for v in before.values()) \
        + Counter({"unknown": 1})
    assert {sha256: corpus.verdict(sha256, fresh=False) for sha256 in corpus.documents} \
        == before


def test_forged_database_row_is_unknown_on_the_default_path(corpus: Corpus) -> None:
    genuine = next(iter(corpus.documents))
    assert corpus.verdict(genuine, fresh=False)["verdict"] == "valid"  # cache is warm now
    sessions = corpus.chain.issuer(PTB).sessions
    forged = hashlib.sha256(b"forged certificate").digest()
    tree = MerkleBatch.of([forged, hashlib.sha256(b"filler").digest()])
    with sessions() as session, session.begin():
        document = session.scalar(select(ChainDocument).where(ChainDocument.sha256 == genuine))
        # A self-consistent forgery: the batch's root replaced by the forged tree's, and a
        # document row (with verdict inputs) whose proof leads to it.
        session.execute(update(ChainBatch).where(ChainBatch.batch_id == document.batch_id)
                        .values(root=tree.root.hex()))
        row = {column.name: getattr(document, attribute) for attribute, column
               in ChainDocument.__mapper__.columns.items() if column.name != "id"}
        row.update(sha256=forged.hex(), proof=["0x" + p.hex() for p in tree.proof(forged)])
        forged_id = session.execute(insert(ChainDocument.__table__).values(
            **row)).inserted_primary_key[0]
        inputs = session.get(VerdictInputs, document.id)
        session.add(VerdictInputs(document_id=forged_id, sha256=forged.hex(),
                                  issuer_id=inputs.issuer_id, block_number=inputs.block_number,
                                  issuer_status_at_issue="active",
                                  traceability=inputs.traceability, scope=inputs.scope,
                                  computed_block=inputs.computed_block))
    assert verdict_facts(sessions.kw["bind"], forged.hex()).complete
    for fresh in (False, True):
        body = corpus.verdict(forged.hex(), fresh=fresh)
        assert body["verdict"] == "unknown"
        assert next(c for c in body["checks"] if c["name"] == "chain-root")["status"] \
            == "failed"
    issuer = corpus.chain.issuer(PTB)
    report = ProjectionAuditor(issuer.client, sessions, issuer.store).run()
    assert not report.consistent


def test_verdict_etag_revalidates_and_changes_with_a_revocation(corpus: Corpus) -> None:
    sha256 = next(iter(corpus.documents))
    first = corpus.client.get(f"/v1/verify/{sha256}")
    assert first.headers["cache-control"] == "no-cache"
    tag = first.headers["etag"]
    again = corpus.client.get(f"/v1/verify/{sha256}", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["etag"] == tag and not again.content
    corpus.chain.issuer(PTB).revoke(sha256, RevocationReason.WITHDRAWN)
    corpus.index()
    changed = corpus.client.get(f"/v1/verify/{sha256}", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["verdict"] == "revoked"
    assert changed.headers["etag"] != tag

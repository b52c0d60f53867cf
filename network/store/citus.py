"""Beyond one database: the Citus distribution plan, as code.

`plan(shard_count)` returns the SQL that distributes the ledger over a Citus cluster; migration 0013 runs it only
where the `citus` extension is available (`apply_if_available`), and does nothing otherwise. The plan:

- Member-keyed tables are distributed by member id, all co-located with `members` (one member's rows on one
  node): members, enrollments, lots, holds, journal. postings and hold_allocations gain a member_id column (filled
  from their journal row / hold) and are distributed by it too; their primary keys gain member_id, since Citus
  requires the distribution column in every unique constraint. (Migration 0018 gives postings and hold allocations
  the column on every database, filled by every insert since; it finds it in place where this plan ran first.)
- The hash chain's shards map to member ids: `shard_heads` gains `anchor_member_id`, a member id that Citus hashes
  into the worker shard holding that chain shard's members, and is distributed by it, co-located; the cluster's
  shard count equals the ledger's chain shard count (COALITION_LEDGER_SHARDS). A member's chain shard is the hash
  range Citus places its id in (network.core.members.shard_of: PostgreSQL's uuid hash, equal ranges), so a member
  writes its journal, postings, lots and chain head on one node. (Migration 0020 gives every database the anchors
  and moves the members enrolled before onto that mapping; the code locks and moves heads by anchor:
  network.store.journal.LOCK_HEADS, UPDATE_HEADS.)
- Partners, contracts and keys are reference tables (copied to every node; small, read on every call): partners,
  contracts, partner_keys, network_keys, ledger_cutoff.
- The member-keyed tables of the programme and of consent that an earn or a spend touches (tiers held,
  qualifying points, last activity, birthdays, PIN credentials, campaign cap totals, earn components, one-time
  codes: MEMBER_TABLES) are distributed by member id and co-located too, by migration 0022 (`member_tables_plan`).
- Everything else (idempotency keys, partner events and the partner velocity window partner_spends, keyed by
  partner; settlement's tables) stays on the coordinator as local tables: settlement reads whole periods and is
  not on the per-call path.

What the code still has to change before a cluster is router-executable on every call is what
tests/test_citus_plan.py lists (statements of the earn and redeem paths that do not filter on the distribution
column): the plan is the schema half.

What the statements still need before a cluster runs every call, found by reading Citus's rules (not run: no
cluster here): Citus locks rows (FOR UPDATE) only in a statement that goes to one shard, and the group commit locks
the chain heads of every member of its group in one statement (as BatchEarn locks its members' status rows), so on
a cluster a group would have to be one chain shard's. (An ON CONFLICT DO UPDATE on a distributed table may use only
immutable expressions: the earn's upsert of member_status compares tiers by their place in the ladder it is given,
network.store.earn_plan.UPSERT_STATUS.) tests/test_citus_plan.py lists the statements that name a coordinator
table beside a distributed one (KNOWN_MIXED) or miss the distribution column (KNOWN_GAPS).

What Citus refuses on a distributed table and the plan drops first: unique keys without the distribution column
(DROPPED_UNIQUE: what they guarded the code keeps otherwise) and triggers (TRIGGERS: the code writes what they wrote,
on every database since migration 0023). No Citus cluster runs here (no package of it on this machine's registries),
so the plan has been read against Citus's rules and run in parts on PostgreSQL, not run whole on a cluster.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from network.core.ledger import GENESIS_HASH

DISTRIBUTION_COLUMN = "member_id"
COLOCATE_WITH = "members"
# table -> its distribution column, in the order they are distributed (members first: the colocation group's anchor)
DISTRIBUTED = {
    "members": "member_id",
    "enrollments": "member_id",
    "lots": "member_id",
    "holds": "member_id",
    "journal": "member_id",
    "postings": "member_id",
    "hold_allocations": "member_id",
    "shard_heads": "anchor_member_id",
}
REFERENCE = ("partners", "contracts", "partner_keys", "network_keys", "ledger_cutoff")
# lookups from an id the wire carries alone to its member: table -> the id it is distributed by, each in a colocation
# group of its own (migration 0019 distributes hold_members where Citus is installed)
LOOKUPS = {"hold_members": "hold_id"}
# The member-keyed tables the programme and consent read or write on a member's earn or spend, distributed by
# member id and co-located with `members` too (migration 0022, where 0013's plan ran): table -> its primary key,
# which must hold member_id (two gain it). Without them every earn would write the coordinator as well.
MEMBER_TABLES = {
    "member_status": ("member_id",),
    "member_qualifying": ("member_id", "month"),
    "member_activity": ("member_id",),
    "member_birthdays": ("member_id",),
    "member_credentials": ("member_id",),
    "campaign_member_totals": ("campaign_id", "member_id", "period"),
    "earn_components": ("member_id", "tx_id", "line"),
    "redemption_codes": ("member_id", "code_hash"),
    "tier_changes": ("member_id", "change_id"),
}
# The programme's tables read inside a statement on a member table (an earn's tier upgrade compares ranks), copied
# to every node with the member tables (0022): a statement on a distributed table may join a reference table.
MEMBER_TABLES_REFERENCE = ("tiers",)
# Citus refuses a trigger on a distributed table. The code writes what these wrote (migration 0023 drops them on every
# database); on a cluster each plan drops its tables' before distributing them, since 0013 and 0022 run before 0023.
TRIGGERS = {"members": ("members_card",),
            "member_status": ("member_status_tier_insert", "member_status_tier_change")}
# Unique keys without the distribution column, which Citus refuses: what each guarded, the code keeps otherwise.
# members.card_number: every card is a row of `cards` (keyed by card number, on the coordinator), written with the
# member in one transaction, so a card number already taken fails the enrolment there.
DROPPED_UNIQUE = {"enrollments": "enrollments_partner_id_customer_ref_key",
                  "members": "members_card_number_key"}
# columns added so that a table can be distributed by member id: table -> the statement filling it
ADDED_COLUMNS = {
    "postings": "UPDATE postings p SET member_id = j.member_id FROM journal j WHERE j.tx_id = p.tx_id",
    "hold_allocations": "UPDATE hold_allocations a SET member_id = h.member_id FROM holds h WHERE h.hold_id = a.hold_id",
}
# primary keys that must include the distribution column: table -> new key columns
KEYS = {
    "members": ("member_id",),
    "enrollments": ("partner_id", "member_id"),
    "lots": ("member_id", "lot_id"),
    "holds": ("member_id", "hold_id"),
    "journal": ("member_id", "tx_id"),
    "postings": ("member_id", "tx_id", "line"),
    "hold_allocations": ("member_id", "hold_id", "lot_id"),
    "shard_heads": ("anchor_member_id", "shard"),
}


def plan(shard_count: int) -> list[str]:
    """The statements distributing the ledger over `shard_count` Citus shards (the ledger's chain shard count)."""
    if not 1 <= shard_count <= 1024:
        raise ValueError(f"shard count must be 1 to 1024, not {shard_count}")
    statements = [f"SET citus.shard_count = {shard_count}"]
    for table, fill in ADDED_COLUMNS.items():
        statements += [f"ALTER TABLE {table} ADD COLUMN member_id uuid", fill,
                       f"ALTER TABLE {table} ALTER COLUMN member_id SET NOT NULL"]
    statements += ["ALTER TABLE shard_heads ADD COLUMN anchor_member_id uuid",
                   # (partner_id, customer_ref) cannot stay unique once enrollments are spread by member: enrolment
                   # keeps the rule under an advisory lock of the pair (network.store.ledger.CUSTOMER_REF_LOCK)
                   *(f"ALTER TABLE {table} DROP CONSTRAINT {name}" for table, name in DROPPED_UNIQUE.items()),
                   *_drop_triggers("members")]
    statements.append(drop_foreign_keys_into_distributed())
    for table in REFERENCE:
        statements.append(f"SELECT create_reference_table('{table}')")
    for table, column in DISTRIBUTED.items():
        key = ", ".join(KEYS[table])
        if table == "shard_heads":
            statements.append(_ANCHORS.format(shards=shard_count, genesis=GENESIS_HASH.hex()))
        if table != "members":
            statements.append(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({key})")
        colocate = "" if table == COLOCATE_WITH else f", colocate_with => '{COLOCATE_WITH}'"
        statements.append(f"SELECT create_distributed_table('{table}', '{column}'{colocate})")
    return statements


def drop_foreign_keys_into_distributed() -> str:
    """The statement dropping every foreign key from a table the plan does not distribute to one it does (cards,
    PIN credentials, one-time codes, activation codes, verification failures... -> members): Citus refuses a
    foreign key from a table on the coordinator to a distributed table, so create_distributed_table would stop at
    the first. Keys between the distributed tables stay (each names the member id: co-located). Found in
    pg_constraint when it runs, so a table added later is covered. What those keys guarded (a card of a member that
    exists) the code keeps: members are never deleted."""
    names = ", ".join(f"'{table}'" for table in DISTRIBUTED)
    return _DROP_FOREIGN_KEYS.format(distributed=names)


_DROP_FOREIGN_KEYS = """DO $$
DECLARE
  fk record;
BEGIN
  FOR fk IN SELECT conrelid::regclass AS child, conname FROM pg_constraint
            WHERE contype = 'f' AND confrelid::regclass::text = ANY(ARRAY[{distributed}])
              AND NOT conrelid::regclass::text = ANY(ARRAY[{distributed}])
            ORDER BY 1, 2 LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.child, fk.conname);
  END LOOP;
END $$"""


# Each chain shard s (0..n-1) gets as anchor a member id that Citus hashes into the s-th worker shard of `members`
# (shards in hash-range order): random ids are drawn until one lands there (about n draws per shard).
_ANCHORS = """DO $$
DECLARE
  shard_ids bigint[] := ARRAY(SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'members'::regclass
                              ORDER BY shardminvalue::bigint);
  s int;
  candidate uuid;
BEGIN
  IF array_length(shard_ids, 1) <> {shards} THEN
    RAISE EXCEPTION 'members has % shards, the ledger has {shards} chain shards', array_length(shard_ids, 1);
  END IF;
  INSERT INTO shard_heads (shard, seq, last_hash)  -- every chain shard's head exists before it is anchored
    SELECT g, 0, '\\x{genesis}'::bytea FROM generate_series(0, {shards} - 1) g ON CONFLICT DO NOTHING;
  FOR s IN 0..{shards} - 1 LOOP
    LOOP
      candidate := gen_random_uuid();
      EXIT WHEN get_shard_id_for_distribution_column('members', candidate) = shard_ids[s + 1];
    END LOOP;
    UPDATE shard_heads SET anchor_member_id = candidate WHERE shard = s;
  END LOOP;
  ALTER TABLE shard_heads ALTER COLUMN anchor_member_id SET NOT NULL;
END $$"""


def member_tables_plan(current_keys: dict[str, tuple[str, ...]]) -> list[str]:
    """The statements distributing MEMBER_TABLES by member id, co-located with `members`: a table whose primary key
    (`current_keys`: as the database has it) lacks member_id gets MEMBER_TABLES' key first."""
    statements = [*_drop_triggers("member_status"),
                  *(f"SELECT create_reference_table('{table}')" for table in MEMBER_TABLES_REFERENCE)]
    for table, key in MEMBER_TABLES.items():
        if DISTRIBUTION_COLUMN not in current_keys[table]:
            statements.append(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({', '.join(key)})")
        statements.append(f"SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}', "
                          f"colocate_with => '{COLOCATE_WITH}')")
    return statements


def _drop_triggers(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {trigger} ON {table}" for trigger in TRIGGERS[table]]


def citus_installed(conn: Connection) -> bool:
    """Whether the citus extension is installed in this database (pg_extension): 0013's plan ran."""
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")).scalar_one())


def citus_available(conn: Connection) -> bool:
    """Whether the citus extension is installed here or can be (pg_extension / pg_available_extensions)."""
    return citus_installed(conn) or bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'citus')")).scalar_one())


def apply_if_available(conn: Connection, shard_count: int) -> bool:
    """Run the plan where Citus is present; return whether it ran (False: a plain PostgreSQL, nothing done)."""
    if not citus_available(conn):
        return False
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS citus"))
    for statement in plan(shard_count):
        conn.execute(text(statement))
    return True

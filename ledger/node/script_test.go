package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/files"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
)

// TestScripts drives cores through the scripts in testdata/*.txt: the
// raft-driving loop step by step, message delivery under the script's
// control, and what each node then holds. Regenerate the expected
// output with -rewrite and read the diff.
//
//	cluster nodes=3          a new network
//	elect id                 id campaigns; messages are delivered
//	put id key value         id executes a write (prints its ID and status)
//	request-snapshot id req  id records governance's snapshot request req
//	rekey id c               id rekeys (the new secret: 32 bytes of c)
//	secrets                  each node's secrets: the seqno each starts at, its first byte
//	sign id                  id writes a signature transaction
//	settle                   deliver messages until the network is quiet
//	cut id / heal id         drop / restore id's messages
//	tick id... n=N           tick nodes N times, settling after each
//	chunk-bytes id n         the primary id ends chunks at the first signature after n bytes
//	snapshot-every id n      the primary id snapshots after every n transactions
//	corrupt-snapshot id      flip a byte of the node's newest snapshot
//	compact-keep id n        entries raft keeps before the newest committed snapshot
//	wipe id                  delete a (killed) node's directory
//	new-node id              a node with a new ID and an empty directory
//	add p id / remove p id   the primary p proposes the voter change
//	fetch a b                a takes b's committed chunks before a's base (verified)
//	fetch-tampered a b       the same with a byte of each chunk flipped
//	fetch-forged a b         the same, the flipped frame's checksum fixed
//	kill id / restart id     stop a node as kill -9 would; start it from its files
//	state                    each node: role, view, last seqno, commit point, keys, files
//	status txid              each node's status of a transaction
//	receipt id txid          fetch a receipt from id and verify it
//	corrupt id               flip a byte of the node's first ledger file
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var c *cluster
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			arg := func(i int) string {
				if i >= len(d.CmdArgs) {
					t.Fatalf("%s: missing argument %d", d.Cmd, i+1)
				}
				return d.CmdArgs[i].Key
			}
			id := func(i int) uint64 {
				n, err := strconv.ParseUint(arg(i), 10, 64)
				if err != nil || c.ids[n] == nil {
					t.Fatalf("%s: no node %q", d.Cmd, arg(i))
				}
				return n
			}
			switch d.Cmd {
			case "cluster":
				var n int
				d.ScanArgs(t, "nodes", &n)
				c = newCluster(t, n)
				return fmt.Sprintf("%d nodes", n)
			case "elect":
				c.elect(id(0))
				return c.describe()
			case "put":
				n := id(0)
				tx, err := c.cores[n].Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
					tx.Put("records", []byte(arg(1)), []byte(arg(2)))
					return nil, nil
				})
				if err != nil {
					return err.Error()
				}
				return fmt.Sprintf("%s %s", tx, c.cores[n].Status(tx))
			case "rekey":
				n := id(0)
				var tx entry.TxID
				var err error
				tx, err = c.cores[n].Rekey(bytes.Repeat([]byte(arg(1)), 32)[:32])
				if err != nil {
					return err.Error()
				}
				return fmt.Sprintf("%s %s", tx, c.cores[n].Status(tx))
			case "secrets":
				var out []string
				for n := uint64(1); n <= uint64(len(c.ids)); n++ {
					if c.cores[n] == nil {
						continue
					}
					es := c.cores[n].Secret().Epochs()
					var froms []string
					for _, e := range es {
						froms = append(froms, fmt.Sprintf("%d:%02x", e.From, e.Secret[0]))
					}
					out = append(out, fmt.Sprintf("node %d: %s", n, strings.Join(froms, " ")))
				}
				return strings.Join(out, "\n")
			case "request-snapshot":
				n := id(0)
				tx, err := c.cores[n].Execute(func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
					tx.Put(SnapshotRequests, []byte("snapshot"), []byte(arg(1)))
					return nil, nil
				})
				if err != nil {
					return err.Error()
				}
				return fmt.Sprintf("%s %s", tx, c.cores[n].Status(tx))
			case "sign":
				c.sign(id(0))
				core := c.cores[id(0)]
				out := fmt.Sprintf("signature at %d", core.sigs[len(core.sigs)-1])
				if core.Last() != core.sigs[len(core.sigs)-1] {
					out += fmt.Sprintf(", snapshot evidence at %d", core.Last())
				}
				return out
			case "settle":
				c.settle()
				return c.describe()
			case "cut":
				c.cut[id(0)] = true
				return "ok"
			case "heal":
				delete(c.cut, id(0))
				return "ok"
			case "tick":
				var ids []uint64
				times := 1
				for i, a := range d.CmdArgs {
					if a.Key == "n" {
						times, _ = strconv.Atoi(a.Vals[0])
						continue
					}
					ids = append(ids, id(i))
				}
				for range times {
					for _, n := range ids {
						c.cores[n].Tick()
					}
					c.settle()
				}
				return c.describe()
			case "chunk-bytes":
				n := id(0)
				v, err := strconv.ParseInt(arg(1), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				c.cores[n].cfg.ChunkBytes = v
				return "ok"
			case "snapshot-every":
				n := id(0)
				v, err := strconv.ParseUint(arg(1), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				c.cores[n].cfg.SnapshotEvery = v
				return "ok"
			case "corrupt-snapshot":
				n := id(0)
				dir := filepath.Join(c.dir, fmt.Sprint(n), "snapshots")
				es, _ := os.ReadDir(dir)
				p := filepath.Join(dir, es[len(es)-1].Name())
				b, _ := os.ReadFile(p)
				b[len(b)-5] ^= 1
				os.WriteFile(p, b, 0o600)
				return "flipped a byte of " + es[len(es)-1].Name()
			case "compact-keep":
				n := id(0)
				v, err := strconv.ParseUint(arg(1), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				c.cores[n].cfg.CompactKeep = v
				return "ok"
			case "wipe":
				// The node's disk is lost: it comes back empty.
				n := id(0)
				os.RemoveAll(filepath.Join(c.dir, fmt.Sprint(n)))
				return "ok"
			case "new-node":
				// A node with a new ID and an empty directory, not yet a
				// voter: it waits for the primary.
				n, err := strconv.ParseUint(arg(0), 10, 64)
				if err != nil || c.ids[n] != nil {
					t.Fatalf("new-node %s", arg(0))
				}
				if c.ids[n], err = identity.NewNode(c.service); err != nil {
					t.Fatal(err)
				}
				c.start(n, nil)
				return "ok"
			case "add", "remove":
				n, err := strconv.ParseUint(arg(1), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.cores[id(0)].ChangeVoters(n, d.Cmd == "add"); err != nil {
					return err.Error()
				}
				return "proposed"
			case "fetch", "fetch-tampered", "fetch-forged":
				// Node a takes the committed chunks before its base from
				// node b's files, as it would from b over the network.
				a, b := id(0), id(1)
				base := c.cores[a].HistoricalBase()
				var out []string
				for _, p := range c.cores[b].CommittedChunks() {
					start, _, _, _ := files.ParseName(filepath.Base(p))
					if start > base {
						continue
					}
					data, _ := os.ReadFile(p)
					switch d.Cmd {
					case "fetch-tampered":
						data[len(data)-3] ^= 1
					case "fetch-forged":
						// Another entry's bytes with a checksum that holds.
						last := frameStart(data)
						data[len(data)-3] ^= 1
						n := int(binary.BigEndian.Uint32(data[last:]))
						binary.BigEndian.PutUint32(data[last+4:], crc32.Checksum(data[last+8:last+8+n], crc32.MakeTable(crc32.Castagnoli)))
					}
					if err := c.cores[a].AddHistorical(filepath.Base(p), data); err != nil {
						out = append(out, filepath.Base(p)+": "+err.Error())
					} else {
						out = append(out, filepath.Base(p)+": kept")
					}
				}
				return strings.Join(out, "\n")
			case "kill":
				c.kill(id(0))
				return "ok"
			case "restart":
				n := id(0)
				core, err := Open(c.config(n, nil))
				if err != nil {
					return "restart failed: " + strings.ReplaceAll(err.Error(), c.dir, "DIR")
				}
				c.cores[n] = core
				from := "replayed every transaction"
				if s := core.RestoredFrom(); s > 0 {
					from = fmt.Sprintf("restored from the snapshot at %d", s)
				}
				return from + "\n" + c.describe()
			case "state":
				return c.describe()
			case "status":
				tx, err := entry.ParseTxID(arg(0))
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, n := range c.order() {
					out = append(out, fmt.Sprintf("node %d: %s", n, c.cores[n].Status(tx)))
				}
				return strings.Join(out, "\n")
			case "receipt":
				n := id(0)
				tx, err := entry.ParseTxID(arg(1))
				if err != nil {
					t.Fatal(err)
				}
				r, err := c.cores[n].Receipt(tx.Seqno)
				if err != nil {
					return err.Error()
				}
				if err := r.Verify(c.service.Cert); err != nil {
					return "does not verify: " + err.Error()
				}
				return fmt.Sprintf("verified: %s under the signature at %d.%d", r.TxID, r.Signature.View, r.Signature.Seqno)
			case "corrupt":
				n := id(0)
				dir := filepath.Join(c.dir, fmt.Sprint(n), "ledger")
				es, _ := os.ReadDir(dir)
				p := filepath.Join(dir, es[0].Name())
				b, _ := os.ReadFile(p)
				b[frameDataEnd(b)-5] ^= 1
				os.WriteFile(p, b, 0o600)
				return "flipped a byte of " + es[0].Name()
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}

func frameStart(b []byte) int { offs, _ := files.FrameOffsets(b); return int(offs[len(offs)-1]) }

// describe is each live node's state, one line each plus its keys.
func (c *cluster) describe() string {
	var out []string
	for _, n := range c.order() {
		core := c.cores[n]
		role := "backup"
		if core.IsPrimary() {
			role = "primary"
		}
		if c.cut[n] {
			role += " (cut off)"
		}
		var kvs []string
		core.Store().Range("records", func(k, v []byte) bool {
			kvs = append(kvs, string(k)+"="+string(v))
			return true
		})
		es, _ := os.ReadDir(filepath.Join(c.dir, fmt.Sprint(n), "ledger"))
		ss, _ := os.ReadDir(filepath.Join(c.dir, fmt.Sprint(n), "snapshots"))
		var names []string
		for _, e := range append(es, ss...) {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		out = append(out, fmt.Sprintf("node %d: %s view %d last %d commit %d records {%s} files %s",
			n, role, core.View(), core.Last(), core.CommitSeqno(), strings.Join(kvs, " "), strings.Join(names, " ")))
	}
	return strings.Join(out, "\n")
}

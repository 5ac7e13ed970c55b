package eth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/stateless"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/types/bal"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// The Ethereum state lives in private (encrypted) ledger maps; see
// spec/ledger-eth.md.
const (
	// MapAccounts: key the 20-byte address, value nonce (8 bytes,
	// big-endian) ‖ balance (32) ‖ code hash (32).
	MapAccounts = "eth.accounts"
	// MapStorage: key address ‖ slot (52 bytes), value the 32-byte word;
	// zero words are deleted.
	MapStorage = "eth.storage"
	// MapCode: key the code's keccak-256, value the code.
	MapCode = "eth.code"
)

// Reader is what state is read from: a ledger transaction on the
// primary, or a node's store for reads.
type Reader interface {
	Get(m string, k []byte) ([]byte, bool)
}

// Writer is a ledger transaction.
type Writer interface {
	Reader
	Put(m string, k, v []byte)
	Delete(m string, k []byte)
}

type account struct {
	addr     common.Address
	existed  bool // in the ledger state when loaded
	exists   bool
	nonce    uint64
	balance  uint256.Int
	codeHash common.Hash
	code     []byte
	codeOK   bool // code loaded
	touched  bool
	dirty    bool
	newCode  bool
	created  bool // EIP-6780: created in this transaction
	deleted  bool // self-destructed
	storage  map[common.Hash]*slot
}

type slot struct {
	orig, cur common.Hash
}

// StateDB is go-ethereum's vm.StateDB over the ledger's maps: one per
// transaction (or call). Changes stay in memory, journaled for the EVM's
// snapshots, until Commit writes them into the ledger transaction.
type StateDB struct {
	r        Reader
	accounts map[common.Address]*account
	journal  []func()
	refund   uint64
	logs     []*types.Log
	txHash   common.Hash
	txIndex  int
	trans    map[common.Address]map[common.Hash]common.Hash
	al       map[common.Address]map[common.Hash]bool
	hooks    *tracing.Hooks // a tracer's, when tracing
}

// NewStateDB reads state from r.
func NewStateDB(r Reader) *StateDB {
	return &StateDB{r: r, accounts: map[common.Address]*account{},
		trans: map[common.Address]map[common.Hash]common.Hash{}, al: map[common.Address]map[common.Hash]bool{}}
}

// encodeAccount and decodeAccount are the MapAccounts value format.
func encodeAccount(nonce uint64, balance *uint256.Int, codeHash common.Hash) []byte {
	b := make([]byte, 72)
	binary.BigEndian.PutUint64(b, nonce)
	balance.PutUint256(b[8:40])
	copy(b[40:], codeHash[:])
	return b
}

func decodeAccount(b []byte) (nonce uint64, balance uint256.Int, codeHash common.Hash, err error) {
	if len(b) != 72 {
		return 0, balance, codeHash, fmt.Errorf("eth: an account record of %d bytes", len(b))
	}
	balance.SetBytes32(b[8:40])
	return binary.BigEndian.Uint64(b), balance, common.BytesToHash(b[40:]), nil
}

func storageKey(a common.Address, k common.Hash) []byte {
	return append(a.Bytes(), k[:]...)
}

// get loads an account (nil if it neither exists nor was touched here).
func (s *StateDB) get(a common.Address) *account {
	if acc, ok := s.accounts[a]; ok {
		return acc
	}
	acc := &account{addr: a, codeHash: types.EmptyCodeHash, storage: map[common.Hash]*slot{}}
	if b, ok := s.r.Get(MapAccounts, a[:]); ok {
		n, bal, ch, err := decodeAccount(b)
		if err != nil {
			panic(err) // our own format: a bad record is a corrupt state
		}
		acc.existed, acc.exists, acc.nonce, acc.balance, acc.codeHash = true, true, n, bal, ch
	}
	s.accounts[a] = acc
	return acc
}

// live is the account if it exists, else creates it (as go-ethereum's
// getOrNewStateObject).
func (s *StateDB) live(a common.Address) *account {
	acc := s.get(a)
	if !acc.exists {
		s.journal = append(s.journal, func() { acc.exists = false })
		acc.exists = true
	}
	s.mark(acc)
	return acc
}

func (s *StateDB) mark(acc *account) {
	if !acc.dirty {
		s.journal = append(s.journal, func() { acc.dirty = false })
		acc.dirty = true
	}
}

// CreateAccount makes a fresh account at a, as the EVM does only where
// none exists.
func (s *StateDB) CreateAccount(a common.Address) {
	acc := s.get(a)
	prev := *acc
	s.journal = append(s.journal, func() { *acc = prev })
	acc.exists, acc.dirty, acc.nonce, acc.codeHash, acc.code, acc.codeOK = true, true, 0, types.EmptyCodeHash, nil, true
	acc.balance.Clear()
}

// CreateContract marks a contract created in this transaction (EIP-6780).
func (s *StateDB) CreateContract(a common.Address) {
	acc := s.live(a)
	if !acc.created {
		s.journal = append(s.journal, func() { acc.created = false })
		acc.created = true
	}
}

func (s *StateDB) SubBalance(a common.Address, v *uint256.Int, _ tracing.BalanceChangeReason) uint256.Int {
	acc := s.live(a)
	prev := acc.balance
	if v.IsZero() {
		return prev
	}
	s.journal = append(s.journal, func() { acc.balance = prev })
	acc.balance.Sub(&prev, v)
	if s.hooks != nil && s.hooks.OnBalanceChange != nil {
		s.hooks.OnBalanceChange(a, prev.ToBig(), acc.balance.ToBig(), tracing.BalanceChangeUnspecified)
	}
	return prev
}

func (s *StateDB) AddBalance(a common.Address, v *uint256.Int, _ tracing.BalanceChangeReason) uint256.Int {
	acc := s.live(a)
	s.touch(acc)
	prev := acc.balance
	if v.IsZero() {
		return prev
	}
	s.journal = append(s.journal, func() { acc.balance = prev })
	acc.balance.Add(&prev, v)
	if s.hooks != nil && s.hooks.OnBalanceChange != nil {
		s.hooks.OnBalanceChange(a, prev.ToBig(), acc.balance.ToBig(), tracing.BalanceChangeUnspecified)
	}
	return prev
}

func (s *StateDB) touch(acc *account) {
	if !acc.touched {
		s.journal = append(s.journal, func() { acc.touched = false })
		acc.touched = true
	}
}

func (s *StateDB) GetBalance(a common.Address) *uint256.Int {
	acc := s.get(a)
	if !acc.exists {
		return new(uint256.Int)
	}
	return new(uint256.Int).Set(&acc.balance)
}

func (s *StateDB) GetNonce(a common.Address) uint64 {
	if acc := s.get(a); acc.exists {
		return acc.nonce
	}
	return 0
}

func (s *StateDB) SetNonce(a common.Address, n uint64, _ tracing.NonceChangeReason) {
	acc := s.live(a)
	prev := acc.nonce
	s.journal = append(s.journal, func() { acc.nonce = prev })
	acc.nonce = n
	if s.hooks != nil && s.hooks.OnNonceChange != nil {
		s.hooks.OnNonceChange(a, prev, n)
	}
}

func (s *StateDB) GetCodeHash(a common.Address) common.Hash {
	if acc := s.get(a); acc.exists {
		return acc.codeHash
	}
	return common.Hash{}
}

func (s *StateDB) GetCode(a common.Address) []byte {
	acc := s.get(a)
	if !acc.exists || acc.codeHash == types.EmptyCodeHash {
		return nil
	}
	if !acc.codeOK {
		acc.code, _ = s.r.Get(MapCode, acc.codeHash[:])
		acc.codeOK = true
	}
	return acc.code
}

func (s *StateDB) SetCode(a common.Address, code []byte, _ tracing.CodeChangeReason) []byte {
	acc := s.live(a)
	prevCode := s.GetCode(a)
	prevHash, prevNew := acc.codeHash, acc.newCode
	s.journal = append(s.journal, func() { acc.code, acc.codeHash, acc.newCode = prevCode, prevHash, prevNew })
	acc.code, acc.codeOK, acc.newCode = code, true, true
	acc.codeHash = types.EmptyCodeHash
	if len(code) > 0 {
		acc.codeHash = crypto.Keccak256Hash(code)
	}
	return prevCode
}

func (s *StateDB) GetCodeSize(a common.Address) int { return len(s.GetCode(a)) }

func (s *StateDB) AddRefund(g uint64) {
	prev := s.refund
	s.journal = append(s.journal, func() { s.refund = prev })
	s.refund += g
}

func (s *StateDB) SubRefund(g uint64) {
	prev := s.refund
	if g > prev {
		panic(fmt.Sprintf("eth: refund counter below zero (%d - %d)", prev, g))
	}
	s.journal = append(s.journal, func() { s.refund = prev })
	s.refund -= g
}

func (s *StateDB) GetRefund() uint64 { return s.refund }

func (s *StateDB) slot(acc *account, k common.Hash) *slot {
	if sl, ok := acc.storage[k]; ok {
		return sl
	}
	sl := &slot{}
	if acc.existed && !acc.created {
		if b, ok := s.r.Get(MapStorage, storageKey(acc.addr, k)); ok {
			sl.orig = common.BytesToHash(b)
		}
	}
	sl.cur = sl.orig
	acc.storage[k] = sl
	return sl
}

func (s *StateDB) GetStateAndCommittedState(a common.Address, k common.Hash) (common.Hash, common.Hash) {
	acc := s.get(a)
	if !acc.exists {
		return common.Hash{}, common.Hash{}
	}
	sl := s.slot(acc, k)
	return sl.cur, sl.orig
}

func (s *StateDB) GetState(a common.Address, k common.Hash) common.Hash {
	cur, _ := s.GetStateAndCommittedState(a, k)
	return cur
}

func (s *StateDB) SetState(a common.Address, k, v common.Hash) common.Hash {
	acc := s.live(a)
	sl := s.slot(acc, k)
	prev := sl.cur
	if prev == v {
		return prev
	}
	s.journal = append(s.journal, func() { sl.cur = prev })
	sl.cur = v
	if s.hooks != nil && s.hooks.OnStorageChange != nil {
		s.hooks.OnStorageChange(a, k, prev, v)
	}
	return prev
}

func (s *StateDB) GetTransientState(a common.Address, k common.Hash) common.Hash {
	return s.trans[a][k]
}

func (s *StateDB) SetTransientState(a common.Address, k, v common.Hash) {
	m := s.trans[a]
	if m == nil {
		m = map[common.Hash]common.Hash{}
		s.trans[a] = m
	}
	prev := m[k]
	if prev == v {
		return
	}
	s.journal = append(s.journal, func() { m[k] = prev })
	m[k] = v
}

func (s *StateDB) SelfDestruct(a common.Address) {
	acc := s.get(a)
	if !acc.exists || acc.deleted {
		return
	}
	s.mark(acc)
	s.journal = append(s.journal, func() { acc.deleted = false })
	acc.deleted = true
}

func (s *StateDB) HasSelfDestructed(a common.Address) bool { return s.get(a).deleted }

func (s *StateDB) Exist(a common.Address) bool { return s.get(a).exists }

func (s *StateDB) Touch(a common.Address) { s.get(a) }

func (s *StateDB) IsNewContract(a common.Address) bool { return s.get(a).created }

func (s *StateDB) Empty(a common.Address) bool {
	acc := s.get(a)
	return !acc.exists || acc.nonce == 0 && acc.balance.IsZero() && acc.codeHash == types.EmptyCodeHash
}

func (s *StateDB) AddressInAccessList(a common.Address) bool {
	_, ok := s.al[a]
	return ok
}

func (s *StateDB) SlotInAccessList(a common.Address, k common.Hash) (bool, bool) {
	m, ok := s.al[a]
	return ok, ok && m[k]
}

func (s *StateDB) AddAddressToAccessList(a common.Address) {
	if _, ok := s.al[a]; ok {
		return
	}
	s.al[a] = map[common.Hash]bool{}
	s.journal = append(s.journal, func() { delete(s.al, a) })
}

func (s *StateDB) AddSlotToAccessList(a common.Address, k common.Hash) {
	s.AddAddressToAccessList(a)
	m := s.al[a]
	if m[k] {
		return
	}
	m[k] = true
	s.journal = append(s.journal, func() { delete(m, k) })
}

// Prepare sets up the access list (EIP-2929, 2930, 3651) and clears
// transient storage (EIP-1153) for a new transaction.
func (s *StateDB) Prepare(rules params.Rules, sender, coinbase common.Address, dst *common.Address, precompiles []common.Address, list types.AccessList) {
	s.al = map[common.Address]map[common.Hash]bool{}
	s.trans = map[common.Address]map[common.Hash]common.Hash{}
	if !rules.IsEIP2929 {
		return
	}
	s.AddAddressToAccessList(sender)
	if dst != nil {
		s.AddAddressToAccessList(*dst)
	}
	for _, p := range precompiles {
		s.AddAddressToAccessList(p)
	}
	for _, el := range list {
		for _, k := range el.StorageKeys {
			s.AddSlotToAccessList(el.Address, k)
		}
		s.AddAddressToAccessList(el.Address)
	}
	if rules.IsShanghai {
		s.AddAddressToAccessList(coinbase)
	}
}

func (s *StateDB) Snapshot() int { return len(s.journal) }

func (s *StateDB) RevertToSnapshot(id int) {
	for i := len(s.journal) - 1; i >= id; i-- {
		s.journal[i]()
	}
	s.journal = s.journal[:id]
}

func (s *StateDB) AddLog(l *types.Log) {
	l.TxHash, l.TxIndex, l.Index = s.txHash, uint(s.txIndex), uint(len(s.logs))
	s.logs = append(s.logs, l)
	if s.hooks != nil && s.hooks.OnLog != nil {
		s.hooks.OnLog(l)
	}
	s.journal = append(s.journal, func() { s.logs = s.logs[:len(s.logs)-1] })
}

// Logs are the logs the transaction emitted.
func (s *StateDB) Logs() []*types.Log { return s.logs }

func (s *StateDB) AddPreimage(common.Hash, []byte) {}

// Witness is for stateless execution, which the ledger does not do.
func (s *StateDB) Witness() *stateless.Witness { return nil }

// AccessEvents are verkle's (EIP-4762), not active here.
func (s *StateDB) AccessEvents() *state.AccessEvents { return nil }

// Finalise is a no-op: Commit ends a transaction.
func (s *StateDB) Finalise(params.Rules) *bal.ConstructionBlockAccessList { return nil }

func (s *StateDB) SetTxContext(h common.Hash, i int, _ uint32) { s.txHash, s.txIndex = h, i }

// Commit writes the transaction's changes into w, deleting accounts
// that self-destructed or that EIP-158 clears (touched and empty), and
// returns a digest of the changes in address order, which the block's
// state root chains (spec/ledger-eth.md).
func (s *StateDB) Commit(w Writer) common.Hash {
	addrs := make([]common.Address, 0, len(s.accounts))
	for a, acc := range s.accounts {
		if acc.dirty || acc.touched {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, func(x, y common.Address) int { return bytes.Compare(x[:], y[:]) })
	h := crypto.NewKeccakState()
	for _, a := range addrs {
		acc := s.accounts[a]
		h.Write(a[:])
		empty := acc.nonce == 0 && acc.balance.IsZero() && acc.codeHash == types.EmptyCodeHash
		if acc.deleted || !acc.exists || empty {
			if acc.existed {
				w.Delete(MapAccounts, a[:])
			}
			for k, sl := range acc.storage {
				if sl.orig != (common.Hash{}) {
					w.Delete(MapStorage, storageKey(a, k))
				}
			}
			h.Write([]byte{0})
			continue
		}
		rec := encodeAccount(acc.nonce, &acc.balance, acc.codeHash)
		w.Put(MapAccounts, a[:], rec)
		h.Write(rec)
		if acc.newCode && len(acc.code) > 0 {
			if _, ok := w.Get(MapCode, acc.codeHash[:]); !ok {
				w.Put(MapCode, acc.codeHash[:], acc.code)
			}
		}
		keys := make([]common.Hash, 0, len(acc.storage))
		for k, sl := range acc.storage {
			if sl.cur != sl.orig {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(x, y common.Hash) int { return bytes.Compare(x[:], y[:]) })
		for _, k := range keys {
			v := acc.storage[k].cur
			if v == (common.Hash{}) {
				w.Delete(MapStorage, storageKey(a, k))
			} else {
				w.Put(MapStorage, storageKey(a, k), v.Bytes())
			}
			h.Write(k[:])
			h.Write(v[:])
		}
	}
	var out common.Hash
	h.Read(out[:])
	return out
}

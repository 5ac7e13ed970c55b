package eth

import (
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// An Ethereum address is linked to one ledger user; the private mode
// lets only that user send from it, call as it, and read what is its.
const (
	// MapLinks: key the 20-byte address, value the user ID.
	MapLinks = "eth.links"
	// MapUserAddresses: key the user ID, value its linked addresses
	// (20 bytes each, in link order).
	MapUserAddresses = "eth.user_addresses"
)

// LinkMessage is the text an address's key signs (EIP-191 personal
// message) to link the address to a user: the user ID is the hex
// SHA-256 of the user's certificate (DER), the ledger's user ID.
func LinkMessage(addr common.Address, userID string, chainID uint64) string {
	return fmt.Sprintf("confide: link Ethereum address %s to ledger user %s on chain %d", addr.Hex(), userID, chainID)
}

// VerifyLink checks a link signature (65 bytes, v 0/1 or 27/28) by
// addr's key over LinkMessage.
func VerifyLink(addr common.Address, userID string, chainID uint64, sig []byte) error {
	if len(sig) != crypto.SignatureLength {
		return invalid("a link signature is %d bytes, not %d", len(sig), crypto.SignatureLength)
	}
	s := append([]byte(nil), sig...)
	if s[64] >= 27 {
		s[64] -= 27
	}
	pub, err := crypto.SigToPub(accounts.TextHash([]byte(LinkMessage(addr, userID, chainID))), s)
	if err != nil {
		return invalid("the link signature does not verify: %v", err)
	}
	if crypto.PubkeyToAddress(*pub) != addr {
		return invalid("the link signature is not by %s's key (sign %q with it)", addr.Hex(), LinkMessage(addr, userID, chainID))
	}
	return nil
}

// Link records addr as the user's. An address links to one user only.
func Link(w Writer, addr common.Address, userID string) error {
	if userID == "" || strings.ContainsAny(userID, "\x00") {
		return invalid("no user to link to")
	}
	if cur, ok := LinkedUser(w, addr); ok {
		if cur == userID {
			return nil
		}
		return invalid("%s is linked to another ledger user", addr.Hex())
	}
	w.Put(MapLinks, addr[:], []byte(userID))
	list, _ := w.Get(MapUserAddresses, []byte(userID))
	w.Put(MapUserAddresses, []byte(userID), append(append([]byte(nil), list...), addr[:]...))
	return nil
}

// LinkedUser is the user an address is linked to.
func LinkedUser(r Reader, addr common.Address) (string, bool) {
	b, ok := r.Get(MapLinks, addr[:])
	return string(b), ok
}

// Addresses are a user's linked addresses, in link order.
func Addresses(r Reader, userID string) []common.Address {
	b, _ := r.Get(MapUserAddresses, []byte(userID))
	out := make([]common.Address, 0, len(b)/common.AddressLength)
	for i := 0; i+common.AddressLength <= len(b); i += common.AddressLength {
		out = append(out, common.BytesToAddress(b[i:i+common.AddressLength]))
	}
	return out
}

// CheckSender refuses, in the private mode, a transaction or call from
// an address not linked to the user.
func CheckSender(r Reader, cfg Config, from common.Address, userID string) error {
	if cfg.Mode != Private {
		return nil
	}
	if u, ok := LinkedUser(r, from); ok && u == userID {
		return nil
	}
	return &Error{Code: CodeInvalidInput, Msg: fmt.Sprintf("%s is not linked to your ledger user: link it first (confide eth link, or confide_linkAddress with the address's signature of %q)",
		from.Hex(), LinkMessage(from, userID, cfg.ChainID))}
}

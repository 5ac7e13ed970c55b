package kms

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512 for signatures
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net/http"
	"slices"

	"github.com/confide/confide/audit"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms/api"
	"github.com/confide/confide/kvstore"
)

const cryptoSHA256 = crypto.SHA256

// Do runs a key operation for an authenticated caller granted it on the
// key (admins may do every operation). The key material never leaves the
// broker; every operation is audited.
func (b *Broker) Do(c Caller, name, op string, req api.OpRequest) (api.OpResponse, error) {
	target := "key/" + name
	if !slices.Contains(api.Ops, op) || op == api.OpGet {
		return api.OpResponse{}, httpx.Errorf(http.StatusNotFound, "not_found", "no such operation")
	}
	var m *material
	var kty string
	err := b.cfg.Store.View(func(tx kvstore.Tx) error {
		r, err := b.get(tx, name)
		if err != nil {
			return err
		}
		meta := r.meta()
		if !c.Admin && !slices.Contains(meta.Access[c.Name], op) {
			return auth.ErrForbidden
		}
		kty = meta.Kty
		m, err = r.material(req.Version)
		if errors.Is(err, errNoVersion) {
			err = httpx.Errorf(http.StatusNotFound, "no_such_version", "key %q has no version %d", name, req.Version)
		}
		return err
	})
	if err != nil {
		return api.OpResponse{}, b.deny(c.Name, op, target, err)
	}
	target = fmt.Sprintf("key/%s/%d", name, m.id())
	resp, err := b.run(m, kty, op, req)
	if err != nil {
		return api.OpResponse{}, b.deny(c.Name, op, target, err)
	}
	resp.Version = m.id()
	if err := b.cfg.Store.Update(func(tx kvstore.Tx) error {
		return b.record(tx, c.Name, op, target, audit.OK, req.Alg)
	}); err != nil {
		return api.OpResponse{}, err
	}
	b.events.WithLabelValues(op, "ok").Inc()
	return resp, nil
}

func decode(field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, httpx.BadRequest("%s must be unpadded base64url", field)
	}
	return b, nil
}

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// handOver encodes an operation's output for its caller. Unwrapped keys
// and plaintexts are secrets; handing them to the principal that was
// granted the operation, over the broker's attested TLS, is what the
// operation is for.
//
//confide:declassify
func handOver(b []byte) string { return encode(b) }

func badAlg(op, kty, alg string) error {
	return httpx.BadRequest("%s on a %s key does not support alg %q", op, kty, alg)
}

func (b *Broker) run(m *material, kty, op string, req api.OpRequest) (api.OpResponse, error) {
	in, err := decode("value", req.Value)
	if err != nil {
		return api.OpResponse{}, err
	}
	switch op {
	case api.OpWrapKey, api.OpUnwrapKey, api.OpEncrypt, api.OpDecrypt:
		switch k := m.jwk.Key.(type) {
		case *rsa.PrivateKey:
			h, err := oaepHash(req.Alg)
			if err != nil {
				return api.OpResponse{}, badAlg(op, kty, req.Alg)
			}
			var out []byte
			if op == api.OpWrapKey || op == api.OpEncrypt {
				out, err = rsa.EncryptOAEP(h, b.cfg.Rand, &k.PublicKey, in, nil)
			} else {
				out, err = rsa.DecryptOAEP(h, nil, k, in, nil)
			}
			if err != nil {
				// One message for every decryption failure: which check
				// failed is an oracle.
				return api.OpResponse{}, httpx.BadRequest("the %s input is invalid for this key", op)
			}
			return api.OpResponse{Value: handOver(out)}, nil
		case []byte:
			if op == api.OpWrapKey || op == api.OpUnwrapKey {
				return api.OpResponse{}, badAlg(op, kty, req.Alg)
			}
			return b.gcm(k, op, req, in)
		}
		return api.OpResponse{}, badAlg(op, kty, req.Alg)
	case api.OpSign, api.OpVerify:
		return sigOp(m, kty, op, req, in, b.cfg.Rand)
	}
	return api.OpResponse{}, httpx.BadRequest("unknown operation")
}

func oaepHash(alg string) (hash.Hash, error) {
	switch alg {
	case "RSA-OAEP":
		return sha1.New(), nil
	case "RSA-OAEP-256":
		return sha256.New(), nil
	}
	return nil, errors.New("unsupported")
}

func (b *Broker) gcm(key []byte, op string, req api.OpRequest, in []byte) (api.OpResponse, error) {
	if want := fmt.Sprintf("A%dGCM", 8*len(key)); req.Alg != want {
		return api.OpResponse{}, httpx.BadRequest("%s on this oct key needs alg %s", op, want)
	}
	aad, err := decode("aad", req.AAD)
	if err != nil {
		return api.OpResponse{}, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return api.OpResponse{}, err
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		return api.OpResponse{}, err
	}
	if op == api.OpEncrypt {
		out := make([]byte, 12, 12+len(in)+16)
		if _, err := io.ReadFull(b.cfg.Rand, out); err != nil {
			return api.OpResponse{}, err
		}
		return api.OpResponse{Value: encode(g.Seal(out, out, in, aad))}, nil
	}
	if len(in) < 12+16 {
		return api.OpResponse{}, httpx.BadRequest("the decrypt input is invalid for this key")
	}
	out, err := g.Open(nil, in[:12], in[12:], aad)
	if err != nil {
		return api.OpResponse{}, httpx.BadRequest("the decrypt input is invalid for this key")
	}
	return api.OpResponse{Value: handOver(out)}, nil
}

// sigOp signs or verifies a digest.
func sigOp(m *material, kty, op string, req api.OpRequest, digest []byte, rnd io.Reader) (api.OpResponse, error) {
	h, pss, ok := sigAlg(req.Alg)
	if !ok {
		return api.OpResponse{}, badAlg(op, kty, req.Alg)
	}
	if len(digest) != h.Size() {
		return api.OpResponse{}, httpx.BadRequest("value must be a %d-byte digest for %s", h.Size(), req.Alg)
	}
	var sig []byte
	if op == api.OpVerify {
		var err error
		if sig, err = decode("signature", req.Signature); err != nil {
			return api.OpResponse{}, err
		}
	}
	switch k := m.jwk.Key.(type) {
	case *ecdsa.PrivateKey:
		if req.Alg[:2] != "ES" || curveHash(k) != h {
			return api.OpResponse{}, badAlg(op, kty, req.Alg)
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		if op == api.OpSign {
			r, s, err := ecdsa.Sign(rnd, k, digest)
			if err != nil {
				return api.OpResponse{}, err
			}
			out := make([]byte, 2*n)
			r.FillBytes(out[:n])
			s.FillBytes(out[n:])
			return api.OpResponse{Value: encode(out)}, nil
		}
		valid := len(sig) == 2*n && ecdsa.Verify(&k.PublicKey, digest,
			new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
		return api.OpResponse{Valid: &valid}, nil
	case *rsa.PrivateKey:
		if req.Alg[:2] == "ES" {
			return api.OpResponse{}, badAlg(op, kty, req.Alg)
		}
		if op == api.OpSign {
			var out []byte
			var err error
			if pss {
				out, err = rsa.SignPSS(rnd, k, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			} else {
				out, err = rsa.SignPKCS1v15(rnd, k, h, digest)
			}
			if err != nil {
				return api.OpResponse{}, err
			}
			return api.OpResponse{Value: encode(out)}, nil
		}
		var err error
		if pss {
			err = rsa.VerifyPSS(&k.PublicKey, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(&k.PublicKey, h, digest, sig)
		}
		valid := err == nil
		return api.OpResponse{Valid: &valid}, nil
	}
	return api.OpResponse{}, badAlg(op, kty, req.Alg)
}

func sigAlg(alg string) (h crypto.Hash, pss, ok bool) {
	if len(alg) != 5 {
		return 0, false, false
	}
	switch alg[2:] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	default:
		return 0, false, false
	}
	switch alg[:2] {
	case "ES", "RS":
		return h, false, true
	case "PS":
		return h, true, true
	}
	return 0, false, false
}

func curveHash(k *ecdsa.PrivateKey) crypto.Hash {
	switch k.Curve.Params().BitSize {
	case 256:
		return crypto.SHA256
	case 384:
		return crypto.SHA384
	}
	return crypto.SHA512
}

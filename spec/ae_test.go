package spec_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/cell"
)

type aeCellFile struct {
	fileHeader
	Vectors []aeCellVector `json:"vectors"`
}

type aeCellVector struct {
	CEK           string `json:"cek"`
	Plaintext     string `json:"plaintext"`
	Deterministic bool   `json:"deterministic"`
	Cell          string `json:"cell"`
}

type aeCEKFile struct {
	fileHeader
	CMK     string        `json:"cmk_pem"`
	Vectors []aeCEKVector `json:"vectors"`
}

type aeCEKVector struct {
	Path  string `json:"path"`
	CEK   string `json:"cek"`
	Value string `json:"value"`
}

// TestAEPackage writes the Always Encrypted vectors with -update (cells
// by package cell, CEK values by package cek), and otherwise checks that
// the packages still read them.
func TestAEPackage(t *testing.T) {
	cellPath, cekPath := filepath.Join("testdata", "ae-cell.json"), filepath.Join("testdata", "ae-cek.json")
	if *update {
		cf := aeCellFile{fileHeader: fileHeader{Kind: "ae-cell", Spec: "ae-cell.md",
			Comment: "cells made by package cell; randomized ones with a random IV, deterministic ones reproducible"}}
		for i, pt := range []string{"", "00", "2a00000000000000", "700061007400690065006e0074002000340032003a0020006e006f006e0065", "0123456789abcdef0123456789abcdef"} {
			k := bytes.Repeat([]byte{byte(0x10 + i)}, 32)
			ck, _ := cell.NewKey(k)
			p, _ := hex.DecodeString(pt)
			for _, det := range []bool{true, false} {
				c, err := ck.Encrypt(p, det, nil)
				if err != nil {
					t.Fatal(err)
				}
				cf.Vectors = append(cf.Vectors, aeCellVector{hex.EncodeToString(k), pt, det, hex.EncodeToString(c)})
			}
		}
		writeJSON(t, cellPath, cf)
		kf, pem, err := cek.NewKeyFile(2048)
		if err != nil {
			t.Fatal(err)
		}
		ef := aeCEKFile{fileHeader: fileHeader{Kind: "ae-cek", Spec: "ae-cek.md",
			Comment: "CEK values made by package cek with the CMK below (RSA-OAEP is randomized: values open, they are not reproduced)"}, CMK: string(pem)}
		for _, path := range []string{"/keys/CMK1.pem", "https://127.0.0.1:8442/v1/keys/AlwaysEncrypted"} {
			k := make([]byte, 32)
			rand.Read(k)
			v, err := cek.Encrypt(context.Background(), kf, path, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			ef.Vectors = append(ef.Vectors, aeCEKVector{path, hex.EncodeToString(k), hex.EncodeToString(v)})
		}
		writeJSON(t, cekPath, ef)
	}
	var cf aeCellFile
	readJSON(t, cellPath, &cf)
	for _, v := range cf.Vectors {
		k, _ := hex.DecodeString(v.CEK)
		ck, _ := cell.NewKey(k)
		c, _ := hex.DecodeString(v.Cell)
		pt, err := ck.Decrypt(c)
		if err != nil || hex.EncodeToString(pt) != v.Plaintext {
			t.Errorf("package cell cannot open %s: %v", v.Cell, err)
		}
		if v.Deterministic {
			p, _ := hex.DecodeString(v.Plaintext)
			if again, _ := ck.Encrypt(p, true, nil); !bytes.Equal(again, c) {
				t.Errorf("package cell makes another deterministic cell of %s", v.Plaintext)
			}
		}
	}
	var ef aeCEKFile
	readJSON(t, cekPath, &ef)
	kf, err := cek.ParseKeyFile([]byte(ef.CMK))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ef.Vectors {
		b, _ := hex.DecodeString(v.Value)
		k, err := cek.Decrypt(context.Background(), kf, v.Path, b)
		if err != nil || hex.EncodeToString(k) != v.CEK {
			t.Errorf("package cek cannot open the value for %s: %v", v.Path, err)
		}
	}
}

func writeJSON(t *testing.T, path string, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decodeStrict(t, b, v)
}

// runAECell re-derives every cell from ae-cell.md with the standard
// library alone: keys, IV, MAC, ciphertext.
func runAECell(t *testing.T, b []byte) int {
	var f aeCellFile
	decodeStrict(t, b, &f)
	f.fileHeader.check(t)
	label := func(kind string) []byte {
		s := "Microsoft SQL Server cell " + kind + " key with encryption algorithm:AEAD_AES_256_CBC_HMAC_SHA256 and key length:256"
		var out []byte
		for _, u := range utf16.Encode([]rune(s)) {
			out = binary.LittleEndian.AppendUint16(out, u)
		}
		return out
	}
	mac := func(key []byte, parts ...[]byte) []byte {
		h := hmac.New(sha256.New, key)
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	for _, v := range f.Vectors {
		root, _ := hex.DecodeString(v.CEK)
		pt, _ := hex.DecodeString(v.Plaintext)
		c, _ := hex.DecodeString(v.Cell)
		encKey, macKey, ivKey := mac(root, label("encryption")), mac(root, label("MAC")), mac(root, label("IV"))
		if c[0] != 1 || len(c) != 1+32+16+(len(pt)/16+1)*16 {
			t.Errorf("cell %s: version or length", v.Cell)
			continue
		}
		iv, body := c[33:49], c[49:]
		if v.Deterministic && !bytes.Equal(iv, mac(ivKey, pt)[:16]) {
			t.Errorf("cell %s: deterministic IV is not HMAC(iv key, plaintext)[:16]", v.Cell)
		}
		if !bytes.Equal(c[1:33], mac(macKey, []byte{1}, iv, body, []byte{1})) {
			t.Errorf("cell %s: MAC", v.Cell)
		}
		blk, _ := aes.NewCipher(encKey)
		padded := append(bytes.Clone(pt), bytes.Repeat([]byte{byte(16 - len(pt)%16)}, 16-len(pt)%16)...)
		want := make([]byte, len(padded))
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(want, padded)
		if !bytes.Equal(want, body) {
			t.Errorf("cell %s: AES-256-CBC body", v.Cell)
		}
	}
	return len(f.Vectors)
}

// runAECEK checks each value's layout and signature from ae-cek.md with
// the standard library alone.
func runAECEK(t *testing.T, b []byte) int {
	var f aeCEKFile
	decodeStrict(t, b, &f)
	f.fileHeader.check(t)
	kf, err := cek.ParseKeyFile([]byte(f.CMK))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kf.Public(context.Background())
	for _, v := range f.Vectors {
		val, _ := hex.DecodeString(v.Value)
		pl, cl := int(binary.LittleEndian.Uint16(val[1:])), int(binary.LittleEndian.Uint16(val[3:]))
		var path []byte
		for _, u := range utf16.Encode([]rune(toLower(v.Path))) {
			path = binary.LittleEndian.AppendUint16(path, u)
		}
		if val[0] != 1 || pl != len(path) || cl != 256 || !bytes.Equal(val[5:5+pl], path) || len(val) != 5+pl+2*cl {
			t.Errorf("value for %s: layout", v.Path)
			continue
		}
		d := sha256.Sum256(val[:5+pl+cl])
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], val[5+pl+cl:]) != nil {
			t.Errorf("value for %s: signature", v.Path)
		}
	}
	return len(f.Vectors)
}

func toLower(s string) string { return string(bytes.ToLower([]byte(s))) }

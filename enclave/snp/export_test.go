package snp

// ReencodePayload parses an evidence payload and encodes it again, for
// tests in package snp_test.
func ReencodePayload(b []byte) ([]byte, error) {
	p, err := parsePayload(b)
	if err != nil {
		return nil, err
	}
	return p.marshal(), nil
}

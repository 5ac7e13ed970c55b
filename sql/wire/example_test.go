package wire_test

import (
	"bytes"
	"fmt"

	"github.com/confide/confide/sql/wire"
)

// A verifier is what the server stores for a user, in PostgreSQL's
// rolpassword form. (A fixed salt, for the example's output only; Python's
// hashlib.pbkdf2_hmac and hmac agree on the keys.)
func ExampleNewVerifier() {
	v, err := wire.NewVerifier(bytes.NewReader(make([]byte, 16)), "pencil")
	if err != nil {
		panic(err)
	}
	fmt.Println(v)
	// Output:
	// SCRAM-SHA-256$4096:AAAAAAAAAAAAAAAAAAAAAA==$cYb24178IFPJfwkjIWWOe5UyMYsPha0jpvVheOzD7fM=:VwyhxkJCO8QGAizhocQO03bRswvgJ9KCi+BMFMz6uvY=
}

package node

import (
	"encoding/hex"
	"encoding/json"
)

func hexs(b []byte) string { return hex.EncodeToString(b) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

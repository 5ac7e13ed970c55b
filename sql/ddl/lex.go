package ddl

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies tokens.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuoted // "x" or [x]: an identifier, case kept
	tString // 'x' or N'x'
	tHex    // 0x…
	tNumber
	tPunct // one of ( ) , = ; .
)

type token struct {
	kind tokKind
	text string // identifiers upper-cased unless quoted; strings unescaped; hex without 0x
	pos  int    // byte offset in the input
	end  int
}

// lex splits SQL into tokens, skipping whitespace and comments (-- and
// /* */, nested as PostgreSQL nests them).
func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(s[i:], "--"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			depth, j := 0, i
			for j < len(s) {
				if strings.HasPrefix(s[j:], "/*") {
					depth++
					j += 2
				} else if strings.HasPrefix(s[j:], "*/") {
					depth--
					j += 2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("unterminated comment at byte %d", i)
			}
			i = j
		case c == '\'' || ((c == 'N' || c == 'n') && i+1 < len(s) && s[i+1] == '\''):
			start := i
			if c != '\'' {
				i++
			}
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated string at byte %d", start)
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, token{tString, b.String(), start, i})
		case c == '"' || c == '[':
			close := byte('"')
			if c == '[' {
				close = ']'
			}
			start := i
			j := strings.IndexByte(s[i+1:], close)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quoted identifier at byte %d", start)
			}
			out = append(out, token{tQuoted, s[i+1 : i+1+j], start, i + 2 + j})
			i += 2 + j
		case c == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X'):
			start := i
			i += 2
			for i < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[i]) >= 0 {
				i++
			}
			out = append(out, token{tHex, s[start+2 : i], start, i})
		case c >= '0' && c <= '9':
			start := i
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			out = append(out, token{tNumber, s[start:i], start, i})
		case strings.IndexByte("(),=;.", c) >= 0:
			out = append(out, token{tPunct, string(c), i, i + 1})
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if !(unicode.IsLetter(r) || r == '_' || r == '@' || r == '#') {
				// Other SQL (operators, parameters) passes through the
				// statements this package rewrites untouched.
				out = append(out, token{tPunct, string(r), i, i + n})
				i += n
				continue
			}
			start := i
			for i < len(s) {
				r, n := utf8.DecodeRuneInString(s[i:])
				if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '$' || r == '@' || r == '#') {
					break
				}
				i += n
			}
			out = append(out, token{tIdent, strings.ToUpper(s[start:i]), start, i})
		}
	}
	return append(out, token{kind: tEOF, pos: len(s), end: len(s)}), nil
}

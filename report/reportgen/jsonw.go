package reportgen

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (RFC 8259, section 7) the way
// Python's json.dumps writes it, which is what wptrunner uses: quotes,
// backslashes and control characters are escaped (\n, \t, … or \u00XX).
// If ascii is set (json.dumps' default ensure_ascii=True), DEL and every
// non-ASCII character are written as lowercase \uXXXX escapes, with
// surrogate pairs above U+FFFF; otherwise non-ASCII text is copied as
// UTF-8. Invalid UTF-8 becomes U+FFFD either way.
func appendString[S ~string | ~[]byte](b []byte, s S, ascii bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (c != 0x7f || !ascii) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = appendEscape(b, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s, i)
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			if ascii {
				b = appendEscape(b, utf8.RuneError)
			} else {
				b = append(b, "\ufffd"...)
			}
			i++
			start = i
			continue
		}
		if ascii {
			b = append(b, s[start:i]...)
			if r > 0xffff {
				r -= 0x10000
				b = appendEscape(b, 0xd800+(r>>10))
				b = appendEscape(b, 0xdc00+(r&0x3ff))
			} else {
				b = appendEscape(b, r)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscape appends \uXXXX for r ≤ U+FFFF.
func appendEscape(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// decodeRune is utf8.DecodeRune for either strings or byte slices, without
// converting one into the other.
func decodeRune[S ~string | ~[]byte](s S, i int) (rune, int) {
	var buf [utf8.UTFMax]byte
	n := copy(buf[:], s[i:min(i+utf8.UTFMax, len(s))])
	return utf8.DecodeRune(buf[:n])
}

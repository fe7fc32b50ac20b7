package reportgen

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// A namer makes the subtest names of one test. Names are unique within the
// test: each family spells a mixed-radix decomposition of offset+i (i the
// subtest index) with distinct list entries, so different i give different
// names, and the offset makes sibling tests differ.
type namer struct {
	fam    family
	offset int
	title  string // for single-subtest tests
	// per-test choices
	a, b int
	s    string
}

type family int

const (
	famGeneric family = iota
	famCSSParse
	famCSSInterp
	famReflection
	famEncDecode
	famEncEncode
	famEncFatal
	famEncLabel
	famRange
	famEditing
	famIDL
	famCrypto
	famURL
)

func newNamer(path string, total int, r *rng) namer {
	n := namer{a: r.intn(1 << 16), b: r.intn(1 << 16)}
	dir := path
	if i := strings.IndexByte(path[1:], '/'); i >= 0 {
		dir = path[1 : i+1]
	}
	switch {
	case total == 1:
		n.fam = famGeneric
		n.title = titleOf(path)
	case dir == "css":
		if strings.Contains(path, "interpolation") || strings.Contains(path, "animation") || strings.Contains(path, "transition") {
			n.fam = famCSSInterp
		} else {
			n.fam = famCSSParse
		}
	case strings.Contains(path, "reflection"):
		n.fam = famReflection
	case strings.Contains(path, "idlharness") || strings.Contains(path, "interfaces") || dir == "interfaces":
		n.fam = famIDL
	case dir == "encoding":
		switch {
		case strings.Contains(path, "fatal"):
			n.fam = famEncFatal
		case strings.Contains(path, "label"):
			n.fam = famEncLabel
		case strings.Contains(path, "encode"):
			n.fam = famEncEncode
			n.b = 0
			if strings.Contains(path, "errors") {
				n.b = 1
			}
		default:
			n.fam = famEncDecode
		}
		n.s = encodingOf(path, r)
		n.a = scriptFor(n.s, r)
	case dir == "dom" && strings.Contains(path, "/ranges/"), dir == "selection":
		n.fam = famRange
		n.s = rangeOps[r.intn(len(rangeOps))]
		for _, op := range rangeOps {
			if strings.Contains(path, "-"+op) {
				n.s = op
			}
		}
	case dir == "editing":
		n.fam = famEditing
		n.s = editCommands[r.intn(len(editCommands))]
		for _, c := range editCommands {
			if strings.Contains(path, "/"+c) {
				n.s = c
			}
		}
	case dir == "WebCryptoAPI":
		n.fam = famCrypto
	case dir == "url":
		n.fam = famURL
	default:
		n.fam = famGeneric
	}
	// Start each test at a random point of its family's combinations, so
	// that sibling tests get different names but rarely need a copy suffix.
	if span := n.span(); span > 0 {
		n.offset = r.intn(span)
	}
	// A "?1001-2000" variant (common/subset-tests.js) runs subtests
	// 1001 to 2000 of the file.
	if q := strings.IndexByte(path, '?'); q >= 0 {
		if from, _, ok := strings.Cut(path[q+1:], "-"); ok {
			if k, err := strconv.Atoi(from); err == nil && k > 0 {
				n.offset = k - 1
			}
		}
	}
	return n
}

// span is the number of combinations of n's family before names repeat
// with a suffix or larger numbers, or 0 to start every test at 0.
func (n *namer) span() int {
	switch n.fam {
	case famCSSParse:
		return len(cssForms) * 4 * len(cssProps) * 50
	case famCSSInterp:
		return len(progresses) * len(interpKinds) * 50
	case famReflection:
		return len(reflValues) * len(reflActions) * len(reflAttrs) * len(reflElems)
	case famRange:
		return 4 * len(rangeNodes) * 20
	case famEditing:
		return len(editChecks) * len(editHTML) * 2
	case famIDL:
		return len(idlForms) * len(idlMembers) * len(idlInterfaces)
	case famCrypto:
		return len(cryptoUsages) * 2 * len(cryptoAlgs) * len(cryptoOps) * len(cryptoOutcomes)
	case famURL:
		return len(urlBases) * len(urlInputs) * len(urlForms)
	case famGeneric:
		return len(genConds) * len(genPreds) * len(genSubjects)
	}
	return 0
}

// scriptFor picks the scripts (indexes into scripts) whose characters an
// encoding's decode tables would list.
func scriptFor(enc string, r *rng) int {
	var choices []int
	switch enc {
	case "euc-kr":
		choices = []int{0}
	case "euc-jp", "shift_jis", "iso-2022-jp":
		choices = []int{1, 2, 3}
	case "gb18030", "gbk", "big5":
		choices = []int{1, 8}
	case "utf-8", "utf-16le", "utf-16be":
		choices = []int{0, 1, 5, 7, 9}
	default:
		choices = []int{4, 5, 6}
	}
	return choices[r.intn(len(choices))]
}

// titleOf makes a document-title-like name from a test path, as a
// single-subtest testharness test reports its <title>.
func titleOf(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	q := ""
	if i := strings.IndexByte(base, '?'); i >= 0 {
		base, q = base[:i], base[i:]
	}
	// Drop the extension and test-type flags: "2d.fill.basic.any.worker.html"
	// → "2d.fill.basic".
	for {
		i := strings.LastIndexByte(base, '.')
		if i <= 0 {
			break
		}
		switch base[i+1:] {
		case "html", "htm", "xht", "xhtml", "svg", "xml", "js", "any", "window", "worker",
			"sharedworker", "serviceworker", "https", "http", "sub", "tentative", "h2", "optional", "headers":
			base = base[:i]
			continue
		}
		break
	}
	t := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return ' '
		}
		return r
	}, base)
	if t == "" {
		t = "test"
	}
	if r, size := utf8.DecodeRuneInString(t); r >= 'a' && r <= 'z' {
		t = string(r-'a'+'A') + t[size:]
	}
	return t + q
}

func encodingOf(path string, r *rng) string {
	for _, e := range encodings {
		if strings.Contains(path, e) {
			return e
		}
	}
	return encodings[r.intn(len(encodings))]
}

// digits decomposes v in the mixed radix rs, least significant first, and
// returns the remaining quotient.
func digits(v int, d []int, rs ...int) int {
	for k, r := range rs {
		d[k] = v % r
		v /= r
	}
	return v
}

// appendCopy appends " (q+1)" when q > 0, for names past a family's
// combinations.
func appendCopy(b []byte, q int) []byte {
	if q == 0 {
		return b
	}
	b = append(b, " ("...)
	b = strconv.AppendInt(b, int64(q+1), 10)
	return append(b, ')')
}

func appendHex(b []byte, v int, width int) []byte {
	const hex = "0123456789ABCDEF"
	var buf [16]byte
	i := len(buf)
	for v > 0 || len(buf)-i < width {
		i--
		buf[i] = hex[v&0xf]
		v >>= 4
	}
	return append(b, buf[i:]...)
}

// appendName appends the name of subtest i.
func (n *namer) appendName(b []byte, i int) []byte {
	var d [6]int
	v := n.offset + i
	switch n.fam {
	case famCSSParse:
		q := digits(v, d[:], len(cssForms), 4, len(cssProps))
		prop := cssProps[d[2]]
		var val []byte
		val = appendCSSValue(val, d[0], q)
		switch d[1] {
		case 0:
			b = append(b, "e.style['"...)
			b = append(b, prop...)
			b = append(b, "'] = \""...)
			b = append(b, val...)
			b = append(b, "\" should set the property value"...)
		case 1:
			b = append(b, "e.style['"...)
			b = append(b, prop...)
			b = append(b, "'] = \""...)
			b = append(b, val...)
			b = append(b, "\" should not set the property value"...)
		case 2:
			b = append(b, "Property "...)
			b = append(b, prop...)
			b = append(b, " value '"...)
			b = append(b, val...)
			b = append(b, '\'')
		default:
			b = append(b, "Property "...)
			b = append(b, prop...)
			b = append(b, " has computed value '"...)
			b = append(b, val...)
			b = append(b, "' for specified '"...)
			b = append(b, val...)
			b = append(b, '\'')
		}
	case famCSSInterp:
		q := digits(v, d[:], len(progresses), len(interpKinds))
		prop := cssProps[n.a%len(cssProps)]
		unit := cssUnits[n.b%len(cssUnits)]
		from, to := q%200, 10+q
		b = append(b, interpKinds[d[1]]...)
		b = append(b, ": property <"...)
		b = append(b, prop...)
		b = append(b, "> from ["...)
		b = strconv.AppendInt(b, int64(from), 10)
		b = append(b, unit...)
		b = append(b, "] to ["...)
		b = strconv.AppendInt(b, int64(to), 10)
		b = append(b, unit...)
		b = append(b, "] at ("...)
		b = append(b, progresses[d[0]]...)
		b = append(b, ") should be ["...)
		p, _ := strconv.ParseFloat(progresses[d[0]], 64)
		b = strconv.AppendFloat(b, float64(from)+p*float64(to-from), 'f', -1, 64)
		b = append(b, unit...)
		b = append(b, ']')
	case famReflection:
		q := digits(v, d[:], len(reflValues), len(reflActions), len(reflAttrs), len(reflElems))
		b = append(b, reflElems[d[3]]...)
		b = append(b, '.')
		b = append(b, reflAttrs[d[2]]...)
		b = append(b, ": "...)
		act := reflActions[d[1]]
		k := strings.IndexByte(act, '%')
		b = append(b, act[:k]...)
		b = append(b, reflValues[d[0]]...)
		b = append(b, act[k+1:]...)
		b = appendCopy(b, q)
	case famEncDecode:
		// One code point per subtest, named like encoding/resources/
		// decode-common.js does: "U+AC00 가 가 B0 A1" (code point, expected
		// and decoded character, bytes); the bytes make names unique.
		sc := scripts[n.a]
		cp := sc.base + v%sc.count
		b = append(b, "U+"...)
		b = appendHex(b, cp, 4)
		b = append(b, ' ')
		b = utf8.AppendRune(b, rune(cp))
		b = append(b, ' ')
		b = utf8.AppendRune(b, rune(cp))
		b = append(b, ' ')
		b = appendHex(b, 0x81+v/190, 2)
		b = append(b, ' ')
		b = appendHex(b, 0x40+v%190, 2)
	case famEncEncode:
		// Named like encoding/encode-form-common.js: "U+AC00 가 %B0%A1",
		// or for unencodable characters "cjk U+4E02 丂 %26%2319970%3B".
		cp := 0
		if n.b == 1 {
			const cjk, extA = 20992, 6592
			switch w := v % (cjk + extA); {
			case w < cjk:
				b = append(b, "cjk "...)
				cp = 0x4E00 + w
			default:
				b = append(b, "extension A "...)
				cp = 0x3400 + w - cjk
			}
		} else {
			sc := scripts[n.a]
			cp = sc.base + v%sc.count
		}
		b = append(b, "U+"...)
		b = appendHex(b, cp, 4)
		b = append(b, ' ')
		b = utf8.AppendRune(b, rune(cp))
		if n.b == 1 {
			b = append(b, " %26%23"...)
			b = strconv.AppendInt(b, int64(cp), 10)
			b = append(b, "%3B"...)
			b = appendCopy(b, v/(20992+6592))
		} else {
			b = append(b, " %"...)
			b = appendHex(b, 0x81+v/190, 2)
			b = append(b, '%')
			b = appendHex(b, 0x40+v%190, 2)
		}
	case famEncFatal:
		b = append(b, "Throw due to fatal flag: "...)
		b = append(b, encodings[v%len(encodings)]...)
		b = append(b, " doesn't have a pointer "...)
		b = strconv.AppendInt(b, int64(v/len(encodings)), 10)
	case famEncLabel:
		q := digits(v, d[:], len(labelSpaces), len(labelSpaces), len(encodings))
		b = append(b, "Invalid label \""...)
		b = append(b, labelSpaces[d[0]]...)
		b = append(b, encodings[d[2]]...)
		b = append(b, labelSpaces[d[1]]...)
		b = append(b, "\" should be rejected by TextDecoder."...)
		b = appendCopy(b, q)
	case famRange:
		q := digits(v, d[:], 4, len(rangeNodes))
		b = append(b, n.s...)
		b = append(b, " with range "...)
		b = strconv.AppendInt(b, int64(q), 10)
		b = append(b, " and point ["...)
		b = append(b, rangeNodes[d[1]]...)
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(d[0]-1), 10)
		b = append(b, ']')
	case famEditing:
		q := digits(v, d[:], len(editChecks), len(editHTML), 2)
		var pre []byte
		if d[2] == 1 {
			pre = []byte(`["stylewithcss","true"],`)
		}
		val := editValues[n.a%len(editValues)]
		b = append(b, '[')
		b = append(b, pre...)
		b = append(b, `["`...)
		b = append(b, n.s...)
		b = append(b, `","`...)
		b = append(b, val...)
		b = append(b, `"]] "`...)
		if q > 0 {
			b = append(b, "<div>"...)
			b = strconv.AppendInt(b, int64(q), 10)
			b = append(b, "</div>"...)
		}
		b = append(b, editHTML[d[1]]...)
		b = append(b, `": `...)
		chk := editChecks[d[0]]
		for len(chk) > 0 {
			k := strings.IndexByte(chk, '%')
			if k < 0 {
				b = append(b, chk...)
				break
			}
			b = append(b, chk[:k]...)
			if chk[k+1] == 'c' {
				b = append(b, n.s...)
			} else {
				b = append(b, val...)
			}
			chk = chk[k+2:]
		}
	case famIDL:
		q := digits(v, d[:], len(idlForms), len(idlMembers), len(idlInterfaces))
		iface := idlInterfaces[d[2]]
		m := idlMembers[d[1]]
		f := idlForms[d[0]]
		for len(f) > 0 {
			k := strings.IndexByte(f, '%')
			if k < 0 {
				b = append(b, f...)
				break
			}
			b = append(b, f[:k]...)
			switch f[k+1] {
			case 'i':
				b = append(b, iface...)
			case 'm':
				b = append(b, m...)
			case 'o':
				b = append(b, idlObjects[d[2]]...)
			}
			f = f[k+2:]
		}
		b = appendCopy(b, q)
	case famCrypto:
		q := digits(v, d[:], len(cryptoUsages), 2, len(cryptoAlgs), len(cryptoOps), len(cryptoOutcomes))
		b = append(b, cryptoOutcomes[d[4]]...)
		b = append(b, ": "...)
		b = append(b, cryptoOps[d[3]]...)
		b = append(b, '(')
		b = append(b, cryptoAlgs[d[2]]...)
		b = append(b, ", "...)
		b = strconv.AppendBool(b, d[1] == 1)
		b = append(b, ", ["...)
		b = append(b, cryptoUsages[d[0]]...)
		b = append(b, "])"...)
		b = appendCopy(b, q)
	case famURL:
		q := digits(v, d[:], len(urlBases), len(urlInputs), len(urlForms))
		in, base := urlInputs[d[1]], urlBases[d[0]]
		switch d[2] {
		case 0:
			b = append(b, "Parsing: <"...)
			b = append(b, in...)
			b = append(b, "> against <"...)
			b = append(b, base...)
			b = append(b, '>')
		case 1:
			b = append(b, "Origin parsing: <"...)
			b = append(b, in...)
			b = append(b, "> against <"...)
			b = append(b, base...)
			b = append(b, '>')
		default:
			b = append(b, "URL.canParse(): "...)
			b = append(b, in...)
			b = append(b, " with base "...)
			b = append(b, base...)
		}
		b = appendCopy(b, q)
	default:
		if n.title != "" {
			return append(b, n.title...)
		}
		q := digits(v, d[:], len(genConds), len(genPreds), len(genSubjects))
		b = append(b, genSubjects[d[2]]...)
		b = append(b, ' ')
		b = append(b, genPreds[d[1]]...)
		b = append(b, genConds[d[0]]...)
		b = appendCopy(b, q)
	}
	return b
}

// appendCSSValue appends CSS value form f with number n; distinct (f, n)
// give distinct values.
func appendCSSValue(b []byte, f, n int) []byte {
	num := func() { b = strconv.AppendInt(b, int64(n), 10) }
	switch f {
	case 0:
		num()
		b = append(b, "px"...)
	case 1:
		b = append(b, "calc("...)
		num()
		b = append(b, "px + 1em)"...)
	case 2:
		num()
		b = append(b, '%')
	case 3:
		b = append(b, '-')
		num()
		b = append(b, ".5em"...)
	case 4:
		b = append(b, "rgb("...)
		b = strconv.AppendInt(b, int64(n%256), 10)
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(n/256), 10)
		b = append(b, ", 0)"...)
	case 5:
		num()
		b = append(b, "deg"...)
	case 6:
		b = append(b, `\"a`...)
		num()
		b = append(b, `\"`...)
	case 7:
		b = append(b, `'é`...)
		num()
		b = append(b, `'`...)
	case 8:
		b = append(b, `\"中文 `...)
		num()
		b = append(b, `\"`...)
	case 9:
		b = append(b, `\"\\`...)
		b = appendHex(b, 0x41+n, 1)
		b = append(b, ` \"`...)
	case 10:
		b = append(b, `url(\"data:,`...)
		num()
		b = append(b, `\")`...)
	default:
		b = append(b, "var(--x"...)
		num()
		b = append(b, ")"...)
	}
	return b
}

var cssForms = [12]struct{}{}

var cssProps = []string{
	"width", "height", "margin-top", "margin-inline-start", "padding-left", "border-top-width",
	"font-size", "line-height", "letter-spacing", "text-indent", "top", "inset-inline-end",
	"color", "background-color", "outline-color", "transform", "rotate", "translate",
	"flex-basis", "gap", "grid-template-columns", "column-width", "content", "quotes",
	"font-family", "counter-reset", "offset-distance", "scroll-margin-top", "shape-margin",
	"text-shadow", "box-shadow", "filter", "clip-path", "mask-position", "perspective",
	"border-radius", "word-spacing", "tab-size", "vertical-align", "z-index",
}

var cssUnits = []string{"px", "em", "%", "deg", "rem", "vw"}

var progresses = []string{"-2", "-0.3", "0", "0.3", "0.5", "0.6", "1", "1.5"}

var interpKinds = []string{
	"CSS Transitions", "CSS Transitions with transition: all", "CSS Animations", "Web Animations",
}

var reflElems = []string{
	"a", "abbr", "area", "audio", "base", "blockquote", "body", "button", "canvas", "details",
	"dialog", "div", "embed", "fieldset", "form", "iframe", "img", "input", "label", "li",
	"link", "meta", "meter", "object", "ol", "option", "output", "script", "select", "source",
	"table", "td", "textarea", "time", "track", "video",
}

var reflAttrs = []string{
	"title", "lang", "dir", "className", "hidden", "accessKey", "tabIndex", "id", "autofocus",
	"inputMode", "enterKeyHint", "nonce", "href", "src", "name", "type", "value", "rel",
	"referrerPolicy", "crossOrigin", "loading", "width", "height", "max", "popover",
}

var reflActions = []string{
	"setAttribute() to % followed by getAttribute()",
	"setAttribute() to % followed by IDL get",
	"IDL set to % followed by getAttribute()",
	"IDL set to % followed by IDL get",
	"IDL set to % should not throw",
	"typeof IDL attribute after setAttribute() to %",
}

var reflValues = []string{
	`""`,
	`" \0\x01\x02\x03\x04\x05\x06\x07 \b\t\n\v\f\r\x0e\x0f \x10\x11\x12\x13\x14\x15\x16\x17 \x18\x19\x1a\x1b\x1c\x1d\x1e\x1f  foo "`,
	`undefined`, `7`, `1.5`, `"5%"`, `"+100"`, `".5"`, `true`, `false`,
	`object "[object Object]"`, `NaN`, `Infinity`, `-Infinity`, `"\0"`, `null`,
	`object "test-toString"`, `object "test-valueOf"`, `"test-valueOf"`,
	`"http://site.example/"`, `"//site.example/path???@#l"`, `-1`, `0`, `2147483647`,
	`-2147483648`, `4294967295`, `"é"`, `"中文"`, `"\ud800"`, `"\\"`, `"😀"`,
}

type script struct{ base, count int }

var scripts = []script{
	{0xAC00, 11172}, // Hangul syllables
	{0x4E00, 20992}, // CJK unified ideographs
	{0x3041, 86},    // Hiragana
	{0x30A1, 90},    // Katakana
	{0x0410, 64},    // Cyrillic
	{0x00C0, 64},    // Latin-1
	{0x0391, 25},    // Greek
	{0x2460, 32},    // enclosed alphanumerics
	{0x3400, 6592},  // CJK extension A
	{0x1F600, 80},   // emoticons
}

var encodings = []string{
	"euc-kr", "euc-jp", "shift_jis", "iso-2022-jp", "gb18030", "gbk", "big5",
	"ibm866", "iso-8859-2", "iso-8859-5", "koi8-r", "koi8-u", "macintosh",
	"windows-874", "windows-1250", "windows-1251", "windows-1252", "windows-1253",
	"windows-1254", "windows-1255", "windows-1256", "windows-1257", "windows-1258",
	"x-mac-cyrillic", "utf-16le", "utf-16be", "utf-8",
}

var labelSpaces = []string{"", " ", "\\t", "\\n", "\\f", "\\r", "\\u0000", "\\u000b", "\\u00a0", "\\u2028", "\\u3000", "\\ufeff"}

var rangeOps = []string{
	"setStart", "setEnd", "setStartBefore", "setEndAfter", "collapse", "compareBoundaryPoints",
	"isPointInRange", "comparePoint", "intersectsNode", "selectNode", "extend", "selectAllChildren",
}

var rangeNodes = []string{
	"paras[0].firstChild", "paras[1].firstChild", "paras[3]", "foreignPara1.firstChild",
	"detachedPara1.firstChild", "document.documentElement", "document.head", "document.body",
	"comment", "foreignComment", "xmlComment", "detachedComment", "processingInstruction",
	"xmlElement", "detachedTextNode", "foreignTextNode", "xmlTextNode", "foreignDoc",
	"xmlDoc", "docfrag", "foreignDocfrag", "doctype", "foreignDoctype", "testDiv",
	"detachedDiv", "paras[0]", "document",
}

var editCommands = []string{
	"bold", "italic", "underline", "strikethrough", "forecolor", "backcolor", "fontname",
	"fontsize", "createlink", "unlink", "insertorderedlist", "insertunorderedlist",
	"indent", "outdent", "justifycenter", "justifyleft", "formatblock", "delete",
	"forwarddelete", "inserttext", "insertparagraph", "insertlinebreak", "inserthtml",
	"removeformat", "subscript", "superscript",
}

var editValues = []string{"", "#FF0000", "sans-serif", "4", "http://www.google.com/", "<h1>", "abc", "\\", "é", `<b>"x"</b>`}

var editHTML = []string{
	"foo[]bar", "foo[bar]baz", "[foo]bar", "foo[bar<b>baz]qoz</b>quz",
	"<p>foo[bar</p><p>baz]quz</p>", "<b>foo[bar</b>baz]", `<span style="font-weight: bold">[foo]</span>`,
	"<table><tr><td>foo<td>b[a]r<td>baz</table>", `<p dir="rtl">[fooé]</p>`, "<ol><li>foo[]</ol>",
	`<a href="http://www.google.com/">foo[bar]baz</a>`, "foo<br>[bar]", "<div>中文[文字]</div>",
	"fo[o<span contenteditable=false>bar</span>b]az", "<pre>foo\nbar[]</pre>", "<font size=4>[foo]</font>",
}

var editChecks = []string{
	`execCommand("%c", false, "%v") return value`,
	"checks for modifications to non-editable content",
	"compare innerHTML",
	`queryCommandIndeterm("%c") before`,
	`queryCommandState("%c") before`,
	`queryCommandValue("%c") before`,
	`queryCommandIndeterm("%c") after`,
	`queryCommandState("%c") after`,
	`queryCommandValue("%c") after`,
}

var idlInterfaces = []string{
	"Document", "Element", "Node", "HTMLElement", "Window", "Navigator", "EventTarget",
	"HTMLInputElement", "HTMLMediaElement", "HTMLCanvasElement", "CanvasRenderingContext2D",
	"Performance", "Request", "Response", "Headers", "ReadableStream", "WritableStream",
	"AbortSignal", "URL", "URLSearchParams", "TextDecoder", "IDBDatabase", "IDBObjectStore",
	"ServiceWorkerContainer", "Clipboard", "ShadowRoot", "CustomElementRegistry", "Animation",
	"KeyframeEffect", "AudioContext", "RTCPeerConnection", "WebSocket", "Worker", "Blob", "File",
	"IntersectionObserver", "ResizeObserver", "Selection", "Range", "History",
}

var idlMembers = []string{
	"title", "dir", "onload", "hidden", "append(Node...)", "remove()", "getAttribute(DOMString)",
	"addEventListener(DOMString, EventListener?, optional (AddEventListenerOptions or boolean))",
	"querySelector(DOMString)", "close()", "abort(optional any)", "then", "signal", "length",
	"item(unsigned long)", "get(USVString)", "set(USVString, USVString)", "decode(optional AllowSharedBufferSource, optional TextDecodeOptions)",
	"createElement(DOMString, optional (DOMString or ElementCreationOptions))", "readyState",
	"play()", "toBlob(BlobCallback, optional DOMString, optional any)", "fillRect(unrestricted double, unrestricted double, unrestricted double, unrestricted double)",
	"timeOrigin", "now()", "clone()", "headers", "body", "getReader(optional ReadableStreamGetReaderOptions)",
	"transaction((DOMString or sequence<DOMString>), optional IDBTransactionMode, optional IDBTransactionOptions)",
	"register((TrustedScriptURL or USVString), optional RegistrationOptions)", "writeText(DOMString)",
	"mode", "define(DOMString, CustomElementConstructor, optional ElementDefinitionOptions)", "currentTime",
	"createOffer(optional RTCOfferOptions)", "send((BufferSource or Blob or USVString))",
	"postMessage(any, sequence<object>)", "observe(Element)", "collapse(Node?, optional unsigned long)",
}

// idlForms all name a member, so that names differ per member.
var idlForms = []string{
	"%i interface: attribute %m",
	"%i interface: operation %m",
	`%i interface: %o must inherit property "%m" with the proper type`,
	"%i interface: calling %m on %o with too few arguments must throw TypeError",
	"%i interface: member %m",
	`%i interface: %m has the right property descriptor`,
}

// idlObjects are instance names for idlInterfaces: "HTMLElement" →
// "htmlElement".
var idlObjects = func() []string {
	objs := make([]string, len(idlInterfaces))
	for i, s := range idlInterfaces {
		k := 0
		for k < len(s) && s[k] >= 'A' && s[k] <= 'Z' {
			k++
		}
		if k > 1 && k < len(s) {
			k--
		}
		objs[i] = strings.ToLower(s[:k]) + s[k:]
	}
	return objs
}()

var cryptoOutcomes = []string{"Success", "Bad usages", "Bad algorithm", "Empty usages"}

var cryptoOps = []string{"generateKey", "importKey(raw)", "importKey(jwk)", "deriveBits"}

var cryptoAlgs = []string{
	"{name: AES-CBC, length: 128}", "{name: AES-CTR, length: 256}", "{name: AES-GCM, length: 192}",
	"{name: AES-KW, length: 128}", "{name: HMAC, hash: SHA-256, length: 256}",
	"{hash: SHA-512, name: HMAC}", "{name: RSA-OAEP, hash: SHA-256, modulusLength: 2048, publicExponent: {0: 1, 1: 0, 2: 1}}",
	"{name: RSASSA-PKCS1-v1_5, hash: SHA-1, modulusLength: 1024, publicExponent: {0: 3}}",
	"{name: RSA-PSS, hash: SHA-384, modulusLength: 2048, publicExponent: {0: 1, 1: 0, 2: 1}}",
	"{name: ECDSA, namedCurve: P-256}", "{name: ECDH, namedCurve: P-384}", "{name: ECDSA, namedCurve: P-521}",
	"{name: Ed25519}", "{name: X25519}", "{name: Ed448}", "{name: X448}", "{name: PBKDF2}", "{name: HKDF}",
	`{name: "aes-cbc", length: 128}`, "{name: EC, namedCurve: P-256}",
}

var cryptoUsages = []string{
	"", "encrypt", "decrypt", "encrypt, decrypt", "sign", "verify", "sign, verify",
	"wrapKey", "unwrapKey", "wrapKey, unwrapKey", "deriveKey", "deriveBits", "deriveKey, deriveBits",
	"decrypt, encrypt, unwrapKey, wrapKey",
}

var urlForms = [3]struct{}{}

var urlBases = []string{
	"about:blank", "http://example.org/foo/bar", "https://example.com/", "file:///tmp/mock/path",
	"sc://ñ/", "data:text/plain,Hello",
}

var urlInputs = []string{
	"http://example\t.\norg", "http://user:pass@foo:21/bar;par?b#c", "https:test", "c:/foo",
	"http://f:00000000000000/c", "http://[1:0::]", "http://0x7f.1/", "http://%zz%66%a.com",
	"http://\\\\foo\\\\bar", "\\\\server\\file", "http://ÿ.com", "http://你好你好", "http://a.b.c.xn--pokxncvks",
	"https://faß.ExAmPlE/", "http://☃.net/", "http://example.com/foo/%2e%2", "http://💩.example/",
	"sc://\u0000/", "http://a<b", "javascript:alert(\"x\")", "data:text/html,<p>\"é\"</p>",
	"http://www/foo%2Ehtml", "  :foo.com   \n", "#β", "?x=\"y\"", "/\\/\\.example.com",
	"http://example.com/\u2028", "blob:https://example.org/中文", "non-special://test:@test/x",
	"http://192.168.0.257", "http://[::127.0.0.1]", "file://localhost/C:/",
}

var genSubjects = []string{
	"fetch()", "XMLHttpRequest.send()", "IDBObjectStore.put()", "new Worker()",
	"navigator.serviceWorker.register()", "ReadableStream.tee()", "AudioContext.decodeAudioData()",
	"RTCPeerConnection.addTrack()", "document.createElement()", "Element.animate()",
	"WebSocket constructor", "postMessage()", "crypto.subtle.digest()", "history.pushState()",
	"IntersectionObserver", "ResizeObserver", "Blob.text()", "structuredClone()",
	"navigator.sendBeacon()", "caches.open()", "indexedDB.open()", "Element.attachShadow()",
	"customElements.define()", "requestAnimationFrame()", "window.open()", "EventSource",
	"navigator.clipboard.writeText()", "HTMLMediaElement.play()", "Notification.requestPermission()",
	"document.execCommand()", "Element.requestFullscreen()", "PerformanceObserver",
	"getComputedStyle()", "SVGElement.getBBox()", "WebAssembly.instantiate()",
}

var genPreds = []string{
	"resolves with the expected value", "rejects with TypeError when called with no arguments",
	"throws InvalidStateError on a closed object", "fires a load event", "returns null for an unknown key",
	"should not throw", "fires events in the right order", "respects the referrer policy",
	"is blocked by Content-Security-Policy", "returns the same object each time",
	"exposes the right properties", "handles a redirect", "sets the right headers",
	"is same-origin with the document", "uses the right default", "does not leak cross-origin data",
	"works after the document is detached", "reports the correct timing", "ignores invalid values",
	"clamps negative values to 0", "serializes correctly", "dispatches a trusted event",
	"is not exposed in insecure contexts", "aborts when the signal is aborted",
}

var genConds = []string{
	"", " in a worker", " with a cross-origin URL", " after document.open()", " (async)",
	" in an iframe", " with an empty string", " with a detached ArrayBuffer",
	" with a non-ASCII body (\"héllo 🌍\")", " for <meta name=\"referrer\">",
	" with \\ in the path", " in a shared worker", " in a service worker",
}

// Failure messages; %n and %m are numbers, %s a CSS-ish value.
var failMessages = []string{
	`assert_equals: expected "%npx" but got "0px"`,
	`assert_equals: expected %n but got %m`,
	`assert_true: expected true got false`,
	`assert_false: expected false got true`,
	`assert_array_equals: lengths differ, expected array [%n, %m] length 2, got [] length 0`,
	`assert_throws_dom: function "() => { el.setAttribute(\"x\", \"%n\"); }" did not throw`,
	`assert_throws_js: function "function() { new TextDecoder(\"bogus-%n\") }" did not throw`,
	`promise_rejects_js: function "function() { throw e }" threw object "NotSupportedError: Not implemented" ("NotSupportedError") expected instance of function "function TypeError() { [native code] }" ("TypeError")`,
	`assert_approx_equals: expected %n +/- 0.01 but got %m.5`,
	`assert_not_equals: got disallowed value null`,
	`assert_in_array: value "auto" not in array ["normal", "stretch"]`,
	`assert_unreached: Should have rejected: undefined Reached unreachable code`,
	`promise_test: Unhandled rejection with value: object "TypeError: Failed to fetch"`,
	`assert_equals: expected "\"é\"" but got "\"e\\u0301\""`,
	`assert_equals: expected "中文" but got "\ufffd\ufffd"`,
	`assert_equals: Serialization should round-trip. expected "rgb(%n, 0, 0)" but got "rgba(%n, 0, 0, 0)"`,
	`Cannot read properties of null (reading 'style')`,
}

var pfMessages = []string{
	`assert_implements_optional: Feature not supported`,
	`assert_implements_optional: 'HTMLElement.prototype.popover' is not supported`,
	`assert_implements_optional: codec "vp09.00.10.08" is not supported`,
}

var errorMessages = []string{
	`Uncaught TypeError: Cannot read properties of undefined (reading 'then')`,
	`Uncaught ReferenceError: promise_setup is not defined`,
	`Failed to load test harness`,
	`promise_test: Unhandled rejection with value: object "NotAllowedError: The request is not allowed by the user agent or the platform in the current context."`,
	`Uncaught SyntaxError: Unexpected token '<'`,
}

// appendMessage appends a message template with %n and %m filled in.
func appendMessage(b []byte, m string, r *rng) []byte {
	for {
		k := strings.IndexByte(m, '%')
		if k < 0 || k+1 >= len(m) || (m[k+1] != 'n' && m[k+1] != 'm') {
			return append(b, m...)
		}
		b = append(b, m[:k]...)
		b = strconv.AppendInt(b, int64(r.intn(200)), 10)
		m = m[k+2:]
	}
}

package report

import (
	"testing"
)

func TestAppendPythonJSON(t *testing.T) {
	// want is Python's json.dumps(json.loads(in)).
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"1", "1"}, {"-1", "-1"},
		{"12345678901234567890123", "12345678901234567890123"},
		{"0.0", "0.0"}, {"-0.0", "-0.0"}, {"1.0", "1.0"}, {"1.5", "1.5"},
		{"1e16", "1e+16"}, {"1e15", "1000000000000000.0"}, {"1E5", "100000.0"},
		{"1e-4", "0.0001"}, {"1e-5", "1e-05"}, {"0.1", "0.1"}, {"123.456", "123.456"},
		{"1e400", "Infinity"}, {"-1e400", "-Infinity"}, {"5e-324", "5e-324"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"}, {"2.5e-7", "2.5e-07"},
		{"100.0", "100.0"}, {"1234567890123456789.0", "1.2345678901234568e+18"},
		{"0.30000000000000004", "0.30000000000000004"}, {"12e-1", "1.2"},
		{"9007199254740993", "9007199254740993"}, {"-0.0001", "-0.0001"},
		{`{"b": 1, "a": [true, false, null, {}], "b": 2, "c": {"x": "\u00e9\ud83c\udf1f"}, "e": []}`,
			`{"b": 2, "a": [true, false, null, {}], "c": {"x": "\u00e9\ud83c\udf1f"}, "e": []}`},
		{` { "test" :"/a.html","subtests":[ {"name":"é","status":"PASS","message":null} ] } `,
			`{"test": "/a.html", "subtests": [{"name": "\u00e9", "status": "PASS", "message": null}]}`},
	}
	for _, tt := range tests {
		got, err := AppendPythonJSON(nil, []byte(tt.in))
		if err != nil {
			t.Errorf("AppendPythonJSON(%s): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("AppendPythonJSON(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := AppendPythonJSON(nil, []byte(`{"a": }`)); err == nil {
		t.Error("got nil error for invalid JSON")
	}
}

func TestAppendPythonJSON_ManyKeys(t *testing.T) {
	in := `{"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8, "k9": 9, "k10": 10, "k11": 11, "k12": 12, "k13": 13, "k14": 14, "k15": 15, "k16": 16, "k17": 17, "k3": 33, "k17": 77}`
	want := `{"k0": 0, "k1": 1, "k2": 2, "k3": 33, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8, "k9": 9, "k10": 10, "k11": 11, "k12": 12, "k13": 13, "k14": 14, "k15": 15, "k16": 16, "k17": 77}`
	got, err := AppendPythonJSON(nil, []byte(in))
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

func TestAppendPythonJSON_Test(t *testing.T) {
	// What wpt.fyi writes for the first test of chrome-basic.json.
	var rec recorder
	mustProcess(t, []Shard{fileShard(t, "../testdata/reports/chrome-basic.json")}, Options{Test: rec.test})
	got, err := AppendPythonJSON(nil, rec.last["/css/🌟-star.html"])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"test": "/css/\ud83c\udf1f-star.html", "subtests": [{"name": "1", "status": "PASS"}, {"name": "2", "status": "PASS"}], "status": "OK"}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

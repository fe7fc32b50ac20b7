package records

import "time"

// Run is what the status index knows of one processed run: the facts its
// readers (the status feed, the dashboard) select and sort by. A Run is
// shared, never modified once indexed.
type Run struct {
	ID       string
	State    string
	Uploaded time.Time // from the run id
	// Products are the product names the run is known to have: as
	// recorded and as wpt.fyi normalises them (the normalised one last).
	Products []string
	// Labels are the run's labels and its product names (wpt.fyi's labels
	// always include them).
	Labels  []string
	Status  *Status  // the record, without its warnings
	TestRun *TestRun // the run's TestRun, if it has one
}

// Time is when the run ran, as wpt.fyi orders and filters runs: its
// TestRun's RunTime, else when it was uploaded.
func (r *Run) Time() time.Time {
	if r.TestRun != nil {
		if t := r.TestRun.RunTime(); t.Unix() > 0 {
			return t
		}
	}
	return r.Uploaded
}

// Product is the run's product name: its TestRun's, else the normalised
// name its status record knows, else "".
func (r *Run) Product() string {
	if r.TestRun != nil {
		return r.TestRun.BrowserName
	}
	if len(r.Products) > 0 {
		return r.Products[len(r.Products)-1]
	}
	return ""
}

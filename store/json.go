package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// ReadJSON reads the JSON object at key into v. A missing object is not an
// error: it returns false, nil. It returns the store's other errors, and an
// error wrapping ErrInvalid for an object that is not JSON of v's shape.
func (b *Bucket) ReadJSON(ctx context.Context, key string, v any) (bool, error) {
	p, err := b.ReadAll(ctx, key)
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(p, v); err != nil {
		return false, fmt.Errorf("store: %s: %v: %w", key, err, ErrInvalid)
	}
	return true, nil
}

// WriteJSON writes v as JSON at key (application/json), replacing what is
// there. It returns an error for a value json cannot encode, and the
// store's errors.
func (b *Bucket) WriteJSON(ctx context.Context, key string, v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", key, err)
	}
	return b.WriteBytes(ctx, key, p, WriteOptions{ContentType: "application/json"})
}

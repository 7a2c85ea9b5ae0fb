// Command trivydb writes a BoltDB file from JSON on stdin, for tests that need a small Trivy
// vulnerability database of their own.
//
// Input: a JSON list of {"path": [bucket, nested bucket, ...], "key": "...", "value": {...}};
// each value is stored as its JSON encoding under key in the nested bucket named by path, which
// is how trivy-db's pkg/db writes every bucket (json.Marshal of the value, bolt Put).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

type entry struct {
	Path  []string        `json:"path"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: trivydb OUTPUT.db < entries.json")
		os.Exit(2)
	}
	var entries []entry
	if err := json.NewDecoder(os.Stdin).Decode(&entries); err != nil {
		fmt.Fprintln(os.Stderr, "trivydb: reading entries:", err)
		os.Exit(1)
	}
	db, err := bolt.Open(os.Args[1], 0o600, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trivydb:", err)
		os.Exit(1)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, e := range entries {
			if len(e.Path) == 0 {
				return fmt.Errorf("entry %q has no bucket path", e.Key)
			}
			bucket, err := tx.CreateBucketIfNotExists([]byte(e.Path[0]))
			if err != nil {
				return err
			}
			for _, name := range e.Path[1:] {
				if bucket, err = bucket.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
			if err := bucket.Put([]byte(e.Key), e.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if closeErr := db.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trivydb:", err)
		os.Exit(1)
	}
}

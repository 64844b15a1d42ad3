package testdb

import (
	"sync/atomic"

	"gorm.io/gorm"
)

// CountStatements adds to n every statement db runs from now on (queries,
// inserts, updates, deletes, raw and row statements): for tests that
// check how much work a path does, without timing it.
func CountStatements(db *gorm.DB, n *atomic.Int64) {
	inc := func(*gorm.DB) { n.Add(1) }
	cb := db.Callback()
	cb.Query().Before("gorm:query").Register("testdb:count", inc)
	cb.Create().Before("gorm:create").Register("testdb:count", inc)
	cb.Update().Before("gorm:update").Register("testdb:count", inc)
	cb.Delete().Before("gorm:delete").Register("testdb:count", inc)
	cb.Row().Before("gorm:row").Register("testdb:count", inc)
	cb.Raw().Before("gorm:raw").Register("testdb:count", inc)
}

// The wrapped store's own methods, where they are already safe (a DELETE, a touch
// that cannot create), as promises.
'use strict'

function stock (store, method, ...args) {
  return new Promise((resolve, reject) => {
    store[method](...args, (error, value) => (error ? reject(error) : resolve(value)))
  })
}

module.exports = { stock }

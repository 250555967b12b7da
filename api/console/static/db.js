// The console's IndexedDB: the device key, the outbox, and the last reads (for offline).
//
// "keys"   {name: "device", privateKey: CryptoKey (non-extractable), publicKey: raw bytes,
//           keyid, created}
// "outbox" one record per key: its chain head, its entries and renames (outbox.js)
// "cache"  {name, value, at}: the session, the ledger id, the last holdings, shipments,
//          events, directory and members read from the server

const NAME = "trazo-console";
let opened = null;

export function openDb() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("keys", { keyPath: "name" });
        db.createObjectStore("outbox", { keyPath: "keyid" });
        db.createObjectStore("cache", { keyPath: "name" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export async function get(store, key) {
  const db = await openDb();
  return done(db.transaction(store).objectStore(store).get(key));
}

/** Write one record in one transaction: it is written whole, or not at all. */
export async function put(store, value) {
  const db = await openDb();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).put(value);
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export async function remove(store, key) {
  const db = await openDb();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).delete(key);
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

export async function cached(name) {
  const row = await get("cache", name);
  return row ? row : null;
}

export async function keep(name, value) {
  await put("cache", { name, value, at: new Date().toISOString() });
}

// import() from this folder, so that a bare name resolves in its node_modules (see
// ../node/packages.js).
export const importHere = (id) => import(id)

// Prints, one per line, the CID that js-ipfs-unixfs (ipfs-unixfs-importer, an implementation
// independent of ours) gives each file when set up as `ipfs add --cid-version=1 --raw-leaves`:
// CIDv1, raw leaves, fixed 262144-byte chunks, balanced layout with 174 links per node, a
// one-chunk file reduced to its leaf.
//
// Usage: node unixfs_cid.mjs <tools dir> [--chunk-size N] [--max-links N] FILE...
// <tools dir> holds the node_modules that `npm ci --prefix tools` installs; the packages are
// loaded from there by file URL, so this script needs no node_modules of its own.
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [toolsDir, ...rest] = process.argv.slice(2)
if (toolsDir === undefined) {
  console.error('usage: node unixfs_cid.mjs <tools dir> [--chunk-size N] [--max-links N] FILE...')
  process.exit(2)
}
const modules = pathToFileURL(join(toolsDir, 'node_modules') + '/')
const load = (path) => import(new URL(path, modules).href)
const { importer } = await load('ipfs-unixfs-importer/dist/src/index.js')
const { fixedSize } = await load('ipfs-unixfs-importer/dist/src/chunker/index.js')
const { balanced } = await load('ipfs-unixfs-importer/dist/src/layout/index.js')
const { MemoryBlockstore } = await load('blockstore-core/dist/src/memory.js')

let chunkSize = 262144
let maxChildrenPerNode = 174
const files = []
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--chunk-size') chunkSize = Number(rest[++i])
  else if (rest[i] === '--max-links') maxChildrenPerNode = Number(rest[++i])
  else files.push(rest[i])
}

for (const file of files) {
  const options = {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize }),
    layout: balanced({ maxChildrenPerNode })
  }
  let root
  for await (const entry of importer([{ content: createReadStream(file) }], new MemoryBlockstore(), options)) {
    root = entry
  }
  console.log(`${root.cid.toString()} ${root.size}`)
}

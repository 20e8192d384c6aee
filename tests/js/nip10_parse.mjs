// Reads a JSON array of Nostr events on stdin; prints nostr-tools' nip10.parse of each as a JSON array.
import { nip10 } from 'nostr-tools'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const events = JSON.parse(Buffer.concat(chunks).toString('utf8'))
process.stdout.write(JSON.stringify(events.map((event) => nip10.parse(event))) + '\n')

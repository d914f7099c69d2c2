// Message content built by Baileys (generateWAMessageContent), for our connector/engines/web/outgoing.py.
// stdin:  {"cases": [{"name", "content": a Baileys AnyMessageContent (JSON), "options"?: {}}]}
//         Buffers are written {"$hex": "..."}; Baileys keys are plain objects.
// stdout: {"built": [{"name", "message": hex of WAProto.Message.encode(...)}]}
import { generateWAMessageContent } from '@whiskeysockets/baileys/lib/Utils/messages.js'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const revive = (value) => {
	if (Array.isArray(value)) return value.map(revive)
	if (value && typeof value === 'object') {
		if (typeof value.$hex === 'string') return Buffer.from(value.$hex, 'hex')
		return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]))
	}
	return value
}

const built = []
for (const { name, content, options } of input.cases) {
	const message = await generateWAMessageContent(revive(content), { ...(options ?? {}) })
	built.push({ name, message: Buffer.from(proto.Message.encode(message).finish()).toString('hex') })
}
process.stdout.write(JSON.stringify({ built }))

// Baileys downloads and reads a history sync the fake phone published on the fake edge's media hosts.
// stdin:  {"mediaKey": hex, "directPath": "/v/…", "host": "localhost:<port>"}   (TLS: NODE_EXTRA_CA_CERTS)
// stdout: {"lidPnMappings": [{"lid", "pn"}], "contacts": [{"id", "lid", "phoneNumber"}], "messages": n}
import { downloadAndProcessHistorySyncNotification } from '@whiskeysockets/baileys/lib/Utils/history.js'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))

// Baileys takes the host from `url` when a directPath is given (its downloadContentFromMessage).
const notification = {
	mediaKey: Buffer.from(input.mediaKey, 'hex'),
	directPath: input.directPath,
	url: `https://${input.host}/`
}
const data = await downloadAndProcessHistorySyncNotification(notification, {})
process.stdout.write(
	JSON.stringify({
		lidPnMappings: data.lidPnMappings,
		contacts: data.contacts.map(({ id, lid, phoneNumber }) => ({ id, lid, phoneNumber })),
		messages: data.messages.length
	})
)

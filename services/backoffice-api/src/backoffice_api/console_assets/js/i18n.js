// Labels in Portuguese (the default) and English. Missing English falls back to Portuguese.
const LABELS = {
  "pt-BR": {
    skip: "Ir para o conteúdo", lang: "Idioma", signIn: "Entrar", signOut: "Sair", apiKey: "Chave de API",
    keyHelp: "Fica só nesta aba do navegador (sessionStorage) e vai no cabeçalho X-API-Key.",
    badKey: "Chave recusada", inbox: "Caixa de entrada", conversation: "Conversa", contracts: "Contratos",
    instances: "Instâncias", ops: "Operações", metrics: "Métricas", pipeline: "Funil",
    status: "Status", source: "Origem", lastMessage: "Última mensagem", created: "Criado em", lead: "Lead",
    all: "Todos", filter: "Filtrar", more: "Carregar mais", empty: "Nada por aqui.", loading: "Carregando…",
    live: "ao vivo", reconnecting: "reconectando…", liveDenied: "sem eventos ao vivo",
    handOff: "Passar para humano", giveBack: "Devolver ao agente", handedOff: "Com um humano",
    withAgent: "Com o agente", reason: "Motivo", timeline: "Linha do tempo", score: "Pontuação",
    back: "Voltar", newLead: "Novo lead", deal: "Negócio", value: "Valor", signers: "Assinantes",
    name: "Nome", lastStatus: "Último status", group: "Grupo", channel: "Canal", deadLetters: "Mensagens mortas",
    replay: "Reenviar", purge: "Apagar", confirmReplay: "Reenviar esta mensagem ao seu grupo?",
    confirmPurge: "Apagar esta mensagem morta para sempre?", yes: "Sim", no: "Cancelar", attempts: "Tentativas",
    error: "Erro", bucket: "Intervalo", leads: "Leads", qualified: "Qualificados", signed: "Assinados",
    contractsSent: "Contratos enviados", conversion: "Conversão", notAllowed: "Sua chave não tem o escopo",
    noPage: "Esta página ainda não existe na API.", source_ads: "anúncio", source_organic: "orgânico",
    source_unknown: "desconhecida", in: "Lead", out: "Agente", replayed: "Reenviadas", purged: "Apagadas",
    company: "Empresa", pending: "Pendentes", lag: "Atraso", consumers: "Consumidores", open: "Abrir",
    search: "Buscar",
    owner: "Responsável", unread: "não lida", searchTerm: "Telefone ou nome", notFound: "Nenhum lead encontrado.",
    stage_new: "Novo", stage_qualified: "Qualificado", stage_proposal: "Proposta", stage_contract_sent: "Contrato enviado",
    stage_won: "Ganho", stage_lost: "Perdido", lostReason: "Motivo da perda", lostNeedsReason: "Diga o motivo da perda.",
    markLost: "Marcar perdido", moved: "Movido para", staleEdit: "Outra pessoa mudou este negócio enquanto você olhava: o quadro foi recarregado, confira e mova de novo.",
    history: "Histórico de etapas", contract: "Contrato", reported: "Enviado à Meta", remind: "Lembrar assinantes",
    reminded: "Lembrete enviado a", cancelContract: "Cancelar contrato", confirmCancel: "Cancelar este contrato? Os assinantes não poderão mais assinar.",
    cancelled: "Contrato cancelado", signedPdf: "PDF assinado", pdfReady: "Link do PDF pronto: clique de novo para abrir.",
    badLink: "Link inválido", sendContract: "Enviar contrato", signerName: "Nome do assinante", delivery: "Entrega",
    contractSent: "Contrato enviado", event: "Evento", outcome: "Resultado", when: "Quando",
    qualification: "Qualificação", slot_date: "data", slot_guests: "convidados", slot_budget: "orçamento",
    slot_location: "local", author_lead: "Lead", author_agent: "Agente", author_human: "Humano",
    save: "Salvar", notes: "Notas", note: "Nota", addNote: "Adicionar nota", send: "Enviar", reply: "Responder",
    replySent: "Mensagem enviada", connect: "Conectar", refresh: "Atualizar", qrFor: "QR code para conectar",
    pairingCode: "Código de pareamento", state: "Estado", qrHelp: "leia no WhatsApp: Aparelhos conectados (muda a cada ~45 s)",
    changed: "mudou", unknownOutcomes: "Resultados desconhecidos", unavailable: "Sem resposta de",
    service: "Serviço", effect: "Efeito", answer: "Resposta", decide_delivered: "Foi entregue", decide_resend: "Reenviar",
    confirmDelivered: "Marcar como entregue (não enviar de novo)?", confirmResend: "Enviar de novo? Se já tinha chegado, chegará duas vezes.",
    decided: "Decidido", media: "Mídia", noUnknown: "Nenhum resultado desconhecido.",
  },
  en: {
    skip: "Skip to content", lang: "Language", signIn: "Sign in", signOut: "Sign out", apiKey: "API key",
    keyHelp: "Kept in this browser tab only (sessionStorage) and sent in the X-API-Key header.",
    badKey: "Key refused", inbox: "Inbox", conversation: "Conversation", contracts: "Contracts",
    instances: "Instances", ops: "Operations", metrics: "Metrics", pipeline: "Pipeline",
    status: "Status", source: "Source", lastMessage: "Last message", created: "Created", lead: "Lead",
    all: "All", filter: "Filter", more: "Load more", empty: "Nothing here.", loading: "Loading…",
    live: "live", reconnecting: "reconnecting…", liveDenied: "no live events",
    handOff: "Hand off to a human", giveBack: "Give back to the agent", handedOff: "With a human",
    withAgent: "With the agent", reason: "Reason", timeline: "Timeline", score: "Score",
    back: "Back", newLead: "New lead", deal: "Deal", value: "Value", signers: "Signers",
    name: "Name", lastStatus: "Last status", group: "Group", channel: "Channel", deadLetters: "Dead letters",
    replay: "Replay", purge: "Purge", confirmReplay: "Replay this dead letter to its group?",
    confirmPurge: "Purge this dead letter for good?", yes: "Yes", no: "Cancel", attempts: "Attempts",
    error: "Error", bucket: "Bucket", leads: "Leads", qualified: "Qualified", signed: "Signed",
    contractsSent: "Contracts sent", conversion: "Conversion", notAllowed: "Your key lacks the scope",
    noPage: "This page does not exist in the API yet.", source_ads: "ads", source_organic: "organic",
    source_unknown: "unknown", in: "Lead", out: "Agent", replayed: "Replayed", purged: "Purged",
    company: "Company", pending: "Pending", lag: "Lag", consumers: "Consumers", open: "Open",
    search: "Search",
    owner: "Owner", unread: "unread", searchTerm: "Phone or name", notFound: "No lead found.",
    stage_new: "New", stage_qualified: "Qualified", stage_proposal: "Proposal", stage_contract_sent: "Contract sent",
    stage_won: "Won", stage_lost: "Lost", lostReason: "Reason lost", lostNeedsReason: "Say why the deal was lost.",
    markLost: "Mark lost", moved: "Moved to", staleEdit: "Someone else changed this deal while you were looking: the board was reloaded, check it and move again.",
    history: "Stage history", contract: "Contract", reported: "Reported to Meta", remind: "Remind signers",
    reminded: "Reminder sent to", cancelContract: "Cancel contract", confirmCancel: "Cancel this contract? Its signers will no longer be able to sign.",
    cancelled: "Contract cancelled", signedPdf: "Signed PDF", pdfReady: "The PDF link is ready: click again to open it.",
    badLink: "Invalid link", sendContract: "Send contract", signerName: "Signer's name", delivery: "Delivery",
    contractSent: "Contract sent", event: "Event", outcome: "Outcome", when: "When",
    qualification: "Qualification", slot_date: "date", slot_guests: "guests", slot_budget: "budget",
    slot_location: "location", author_lead: "Lead", author_agent: "Agent", author_human: "Human",
    save: "Save", notes: "Notes", note: "Note", addNote: "Add note", send: "Send", reply: "Reply",
    replySent: "Message sent", connect: "Connect", refresh: "Refresh", qrFor: "QR code to connect",
    pairingCode: "Pairing code", state: "State", qrHelp: "scan it in WhatsApp: Linked devices (it changes every ~45 s)",
    changed: "changed", unknownOutcomes: "Unknown outcomes", unavailable: "No answer from",
    service: "Service", effect: "Effect", answer: "Answer", decide_delivered: "It was delivered", decide_resend: "Resend",
    confirmDelivered: "Mark as delivered (do not send again)?", confirmResend: "Send again? If it had arrived, it arrives twice.",
    decided: "Decided", media: "Media", noUnknown: "No unknown outcomes.",
  },
};

const STORE = "wb.lang"; // a preference, not a secret: localStorage is fine
export let lang = localStorage.getItem(STORE) in LABELS ? localStorage.getItem(STORE) : "pt-BR";

export function t(key) {
  return LABELS[lang][key] ?? LABELS["pt-BR"][key] ?? key;
}

export function setLang(value) {
  lang = value in LABELS ? value : "pt-BR";
  localStorage.setItem(STORE, lang);
  document.documentElement.lang = lang;
}

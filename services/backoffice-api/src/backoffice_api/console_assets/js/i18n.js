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

{#- A layer's tooltip or popup: a table of the chosen fields of the feature under the pointer, as
    folium's GeoJsonTooltip and GeoJsonPopup write it (folium, MIT licence). Field values and labels
    are HTML-escaped in Python (gridmap.maps.safety.escape) before they reach the page: the table is
    inserted as HTML, from a JavaScript template literal. #}
    {{ layer }}.{{ method }}(
    function(layer){
    let div = L.DomUtil.create('div');
    let handleObject = feature => {
        if (feature === null) {
            return '';
        } else if (typeof(feature)=='object') {
            return JSON.stringify(feature);
        } else {
            return feature;
        }
    }
    let fields = {{ fields|tojson }};
    let aliases = {{ aliases|tojson }};
    let table = '<table>' +
        String(
        fields.map(
        (v,i)=>
        `<tr>
            {%- if labels %}
            <th>${aliases[i]{% if localize %}.toLocaleString(){% endif %}}</th>
            {%- endif %}
            <td>${handleObject(layer.feature.properties[v]){% if localize %}.toLocaleString(){% endif %}}</td>
        </tr>`).join(''))
    +'</table>';
    div.innerHTML=table;
    return div
    }
    ,{{ options|tojson }});
